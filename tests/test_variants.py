"""Every registered preset is built and trained for a few steps on every dataset kind.

Parametrized over the registry: registering a preset is enough to have it tested.
"""

import math

import pytest
import torch
from conftest import make_cell

from harness.data import load_dataset
from harness.evaluate.evaluator import Evaluator
from harness.train.loop import Trainer
from harness.variants import LOSSES, PENALTIES, PRESETS

DATASETS = {
    "ring8": {"size": 512, "test_size": 128},
    "digits": {},
    "stacked_digits": {"size": 512, "test_size": 128},
}
KIND = {"ring8": "points", "digits": "images", "stacked_digits": "images"}


OWN_DATA = {"pix2pix": "digit_pairs", "cyclegan": "digit_unpaired", "cogan": "digit_unpaired"}


def translator(preset: str) -> bool:
    """Presets whose recipe trains on a translation dataset of its own kind."""
    return PRESETS.get(preset)("images").get("recipe") in OWN_DATA


def fits(preset: str, dataset: str) -> bool:
    return KIND[dataset] in PRESETS.meta(preset)["kinds"] and not translator(preset)


def build(cell, tmp_path):
    data = load_dataset(cell.dataset, cell.dataset_params)
    cpu = torch.device("cpu")
    return Trainer(cell, data, cpu, Evaluator(cell.evaluation, data, cpu), tmp_path)


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("preset", PRESETS.names())
def test_every_preset_builds_and_steps(preset, dataset, tmp_path):
    if not fits(preset, dataset):
        needs = "needs aligned source-target|needs independent source and target"
        with pytest.raises(ValueError, match=f"preset '{preset}' fits|{needs}"):
            make_cell(preset, dataset, DATASETS[dataset])
        return
    params = DATASETS[dataset]
    if KIND[dataset] == "images" and PRESETS.meta(preset)["resolution"]:
        params = {**params, "resolution": PRESETS.meta(preset)["resolution"]}  # its image size
    small = {"width": 16, "batch_size": 32, "latent_dim": 24}  # 24: 2, 3 or 4 z chunks
    preset_spec = make_cell(preset, dataset, params).variant
    if preset_spec.d_width:  # a preset with its own D width
        small["d_width"] = 16
    if preset_spec.fmap_base:  # the papers' feature maps per resolution, shrunk
        small |= {"fmap_base": 64, "fmap_max": 16}
    if preset_spec.batch_sizes:  # a batch per resolution: the small one at each
        small["batch_sizes"] = dict.fromkeys(preset_spec.batch_sizes, small["batch_size"])
    cell = make_cell(preset, dataset, params, **small)
    trainer = build(cell, tmp_path)
    recipe = trainer.recipe
    g_before = [p.detach().clone() for p in recipe.G.parameters()]
    d_before = [p.detach().clone() for p in recipe.D.parameters()]
    for _ in range(2):
        stats = trainer.step()
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(stats)
    assert all(torch.isfinite(s) for s in stats.values())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, recipe.G.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, recipe.D.parameters(), strict=True))
    assert recipe.counters()["d_steps"] == 2 * cell.variant.d_steps
    assert trainer.images_seen == 2 * cell.variant.d_steps * cell.variant.batch_size
    samples, _ = trainer.evaluator.generate(recipe.sampler(), 10)
    assert samples.shape[1:] == trainer.data.info.shape
    if cell.variant.penalty == "weight_clip":
        assert max(p.abs().max() for p in recipe.D.parameters()) <= cell.variant.clip_value


@pytest.mark.parametrize("preset", [p for p in PRESETS.names() if translator(p)])
def test_every_translation_preset_builds_and_steps(preset, tmp_path):
    """On its own kind of data (8-px digit tasks), at a small width: every net learns."""
    recipe_name = PRESETS.get(preset)("images")["recipe"]
    small = {"width": 8, "batch_size": 4, "depth": 3, "blocks": 1, "kernel": 3, "d_layers": 2}
    preset_axes = PRESETS.get(preset)("images")
    axes = {k: v for k, v in small.items() if k in {"width", "batch_size"}}
    axes |= {k: small[k] for k in ("depth", "blocks", "kernel", "d_layers") if k in preset_axes}
    cell = make_cell(preset, OWN_DATA[recipe_name], **axes)
    trainer = build(cell, tmp_path)
    nets = {n: m for n, m in vars(trainer.recipe).items() if isinstance(m, torch.nn.Module)}
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in nets.items()}
    for _ in range(2):
        stats = trainer.step()
    assert {"loss_d", "loss_g"} <= set(stats)
    assert all(torch.isfinite(s) for s in stats.values())
    for name, module in nets.items():
        moved = zip(before[name], module.parameters(), strict=True)
        assert any(not torch.equal(a, b) for a, b in moved), name
    samples, labels = trainer.evaluator.generate(trainer.recipe.sampler(), 10)
    assert samples.shape == (10, *trainer.data.info.shape)
    if trainer.recipe.sampler().translates:  # a translator's bank: held-out sources
        assert torch.equal(labels, trainer.data.extra["source_test_y"][:10])


@pytest.mark.parametrize("resolution", [8, 16, 28, 32, 64])
def test_dcgan_is_sized_to_the_resolution(resolution, tmp_path):
    cell = make_cell(
        "dcgan", "digits", {"resolution": resolution}, width=8, batch_size=8, latent_dim=8
    )
    trainer = build(cell, tmp_path)
    out = trainer.recipe.G(torch.randn(3, 8))
    assert out.shape == (3, 1, resolution, resolution)
    assert trainer.recipe.D(out).shape == (3,)


def test_presets_pick_the_architecture_that_fits_the_kind():
    assert make_cell("dcgan", "ring8").variant.architecture == "mlp"
    assert make_cell("dcgan", "digits").variant.architecture == "dcgan"
    assert make_cell("gan", "digits").variant.architecture == "mlp"
    wgan = make_cell("wgan", "digits").variant
    assert (wgan.d_steps, wgan.clip_value, wgan.d_opt.name, wgan.d_opt.lr) == (
        5,
        0.01,
        "rmsprop",
        5e-5,
    )
    assert make_cell("wgan_gp", "ring8").variant.penalty_weight == 10.0
    assert make_cell("sngan", "ring8").variant.normalization == "spectral"
    assert make_cell("cgan", "ring8").variant.conditional


def test_losses_match_their_closed_forms_at_zero_logits():
    zero = torch.zeros(4)
    expected_d = {
        "minimax": 2 * math.log(2),
        "nonsaturating": 2 * math.log(2),
        "wasserstein": 0.0,
        "hinge": 2.0,
        "least_squares": 0.5,
    }
    expected_g = {
        "minimax": -math.log(2),
        "nonsaturating": math.log(2),
        "wasserstein": 0.0,
        "hinge": 0.0,
        "least_squares": 0.5,
    }
    assert set(expected_d) == set(LOSSES.names())
    for name in LOSSES.names():
        loss = LOSSES.get(name)
        assert float(loss.d_loss(zero, zero)) == pytest.approx(expected_d[name])
        assert float(loss.g_loss(zero)) == pytest.approx(expected_g[name])


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    weight = torch.tensor([0.6, 0.8])  # unit norm: |∇D| = 1 everywhere

    def critic(x, labels=None):
        return x @ weight

    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    term = PENALTIES.get("gradient_penalty").term
    assert float(term(critic, real, fake, None, torch.Generator().manual_seed(0))) == pytest.approx(
        0.0, abs=1e-10
    )

    def steep(x, labels=None):
        return 3 * (x @ weight)

    assert float(term(steep, real, fake, None, torch.Generator().manual_seed(0))) == pytest.approx(
        4.0
    )
