"""Pix2Pix and CycleGAN as training recipes: the mechanism checks of the variant-zoo reference
(§8.5, §9.4), the translation data contract, suite validation, and resume."""

import math
from pathlib import Path

import pytest
import torch
from conftest import make_cell

from harness.data import DatasetInfo, LoadedData, load_dataset
from harness.evaluate.evaluator import Evaluator
from harness.recipes.translation import ImagePool, lr_factor
from harness.train.loop import Trainer
from harness.variants.nets.translation import PatchGAN, UNet

CPU = torch.device("cpu")
UNUSED = Path("unused-run-dir")  # trainers that never write


def build(cell, run_dir):
    data = load_dataset(cell.dataset, cell.dataset_params)
    return Trainer(cell, data, CPU, Evaluator(cell.evaluation, data, CPU), run_dir)


# -- data ------------------------------------------------------------------------------------


def test_paired_and_unpaired_digit_tasks_keep_their_contract():
    paired = load_dataset("digit_pairs", {"source": "lowres", "target": "digit"})
    assert paired.train_x.shape == (1397, 1, 8, 8) and paired.test_x.shape == (400, 1, 8, 8)
    source, target, labels = paired.streams()["pairs"]
    assert torch.equal(target, paired.train_x) and torch.equal(labels, paired.train_y)
    # lowres is the 2×2 average of the target, repeated: the pairs are aligned.
    pooled = torch.nn.functional.avg_pool2d(target, 2).repeat_interleave(2, 2)
    assert torch.allclose(source, pooled.repeat_interleave(2, 3), atol=1e-6)
    assert torch.equal(paired.extra["source_test_target"], paired.test_x)

    unpaired = load_dataset("digit_unpaired", {"source": "digit", "target": "inverted"})
    a, _ = unpaired.streams()["A"]
    b, _ = unpaired.streams()["B"]
    assert len(a) == len(b) == 700
    # No digit is in both domains: no inverted B image is the inverse of an A image.
    flat_a, flat_b = a.flatten(1), (-b).flatten(1)
    assert not (torch.cdist(flat_a, flat_b) < 1e-6).any()
    # The known target of each A test image is its own inversion.
    assert torch.equal(unpaired.extra["source_test_target"], -unpaired.extra["source_test"])
    with pytest.raises(ValueError, match="both 'digit'"):
        load_dataset("digit_pairs", {"source": "digit", "target": "digit"})


# -- nets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("layers", "field"), [(1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_fields_are_the_papers(layers, field):
    assert PatchGAN(2, 8, layers, 4, "instance").receptive_field() == field
    # Measured (without the norm, whose statistics span the whole map): the input pixels
    # one central logit depends on span that field.
    d = PatchGAN(2, 8, layers, 4, "none")
    size = 2 * field
    x = torch.randn(1, 2, size, size, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    assert int(rows.max() - rows.min() + 1) <= field
    assert int(rows.max() - rows.min() + 1) >= field - 2  # zero-padding aside


def test_pix2pix_nets_at_cpu_scale_are_what_the_spec_says():
    cell = make_cell("pix2pix_digits", "digit_pairs")
    trainer = build(cell, UNUSED)
    G, D = trainer.recipe.G, trainer.recipe.D
    first = next(m for m in D.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 2  # source and target, concatenated
    source = trainer.data.extra["source_test"][:4]
    assert D(torch.cat([source, source], 1)).shape[2:] == (8, 8)  # a map of patches
    assert D.receptive_field() == 5 < 8
    out = G(source)
    assert out.shape == source.shape
    torch.manual_seed(0)
    with_skips = G(source)
    torch.manual_seed(0)
    assert not torch.allclose(with_skips, G(source, skip_scale=0.0))  # the skips are used
    G.eval()
    assert not torch.equal(G(source), G(source))  # dropout stays on at test time


def test_unet_shapes_at_the_papers_resolution():
    g = UNet(3, 3, 8, 4, "instance", 0.5)  # unet_256 at a tiny width
    assert g(torch.randn(1, 3, 256, 256)).shape == (1, 3, 256, 256)
    from harness.variants.nets.translation import NoiseDropout

    def noisy(net):  # the decoder layers (innermost first) that drop units
        return [
            i
            for i, up in enumerate(net.up)
            if any(isinstance(m, NoiseDropout) and m.p > 0 for m in up)
        ]

    assert noisy(g) == [0, 1, 2]  # the paper: the innermost three of eight
    assert noisy(UNet(1, 1, 3, 4, "instance", 0.5, dropout_layers=1)) == [0]


# -- losses and schedule -----------------------------------------------------------------


def test_pix2pix_l1_weight_reaches_the_generator_loss():
    grads = {}
    for weight in (1.0, 100.0):
        cell = make_cell("pix2pix_digits", "digit_pairs", l1_weight=weight, dropout=0.0)
        recipe = build(cell, UNUSED).recipe
        for p in recipe.D.parameters():  # a stub D: constant output, no gradient to G
            torch.nn.init.zeros_(p)
        source, target, _ = recipe.data.streams()["pairs"]
        total, adversarial, l1 = recipe.generator_loss(source[:8], target[:8])
        assert total.item() == pytest.approx((adversarial + weight * l1).item())
        assert adversarial.item() == pytest.approx(math.log(2))  # softplus(0)
        total.backward()
        grads[weight] = torch.cat([p.grad.flatten() for p in recipe.G.parameters()])
    scale = float(grads[100.0].abs().max())
    torch.testing.assert_close(grads[100.0], 100 * grads[1.0], rtol=1e-3, atol=1e-5 * scale)


def test_cyclegan_cycle_and_identity_weights_reach_the_generator_loss():
    cell = make_cell("cyclegan_digits", "digit_unpaired", cycle_weight=10.0, identity_weight=0.5)
    recipe = build(cell, UNUSED).recipe
    for d in (recipe.D_A, recipe.D_B):
        for p in d.parameters():
            torch.nn.init.zeros_(p)
    a, _ = recipe.data.streams()["A"]
    b, _ = recipe.data.streams()["B"]
    total, parts = recipe.generator_loss(a[:8], b[:8])
    parts = {name: value.detach() for name, value in parts.items()}
    assert parts["adversarial"].item() == pytest.approx(2.0)  # (0 − 1)² per direction
    expected = (
        parts["adversarial"]
        + 10.0 * (parts["cycle_a"] + parts["cycle_b"])
        + 10.0 * 0.5 * (parts["identity_a"] + parts["identity_b"])
    )
    assert total.item() == pytest.approx(expected.item())


def test_identity_loss_is_refused_when_the_domains_differ_in_shape():
    from harness.recipes.translation import CycleGAN

    cell = make_cell("cyclegan_digits", "digit_unpaired", identity_weight=0.5)
    data = load_dataset("digit_unpaired", {})
    rgb = torch.zeros(8, 3, 8, 8)
    info = DatasetInfo("x", "images", (1, 8, 8), 10, source_shape=(3, 8, 8))
    odd = LoadedData(
        data.train_x, data.train_y, data.test_x, data.test_y, info, {"source_train": rgb}
    )
    with pytest.raises(ValueError, match="identity_weight needs source and target"):
        CycleGAN(cell.variant, odd, CPU, 0)


def test_the_learning_rate_is_constant_then_falls_linearly_to_zero_at_the_end():
    total = 10
    factors = [lr_factor(step, total, 0.5) for step in range(total + 1)]
    assert factors[:6] == [1.0] * 6
    assert factors[6:] == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0])
    assert lr_factor(total, total, 0.5) == 0.0
    assert [lr_factor(s, total, 0.0) for s in range(total + 1)] == [1.0] * (total + 1)
    # Through a recipe: the learning rate of its last step, and after it, as scheduled.
    cell = make_cell(
        "pix2pix_digits", "digit_pairs", lr_decay=0.5, budget={"g_steps": 4, "ticks": 1}
    )
    trainer = build(cell, UNUSED)
    lrs = []
    for _ in range(4):
        trainer.step()
        lrs.append(trainer.recipe.opt_g.param_groups[0]["lr"])
    assert lrs == pytest.approx([2e-4, 2e-4, 2e-4, 1e-4])
    trainer.recipe._schedule(trainer.recipe.opt_g, trainer.recipe.opt_d)
    assert trainer.recipe.opt_g.param_groups[0]["lr"] == 0.0


# -- the image pool ------------------------------------------------------------------------


def test_the_image_pool_fills_then_mixes_stored_and_current_images():
    pool = ImagePool(4, seed=0)
    first = torch.arange(4.0).view(4, 1, 1, 1).requires_grad_()
    out = pool.query(first * 1)
    assert torch.equal(out, first.detach()) and not out.requires_grad  # filling: as given
    mixed = torch.cat([pool.query(torch.full((4, 1, 1, 1), 10.0 + i)) for i in range(8)])
    values = set(mixed.flatten().tolist())
    assert values & {0.0, 1.0, 2.0, 3.0}  # some stored images came back
    assert values & {10.0 + i for i in range(8)}  # and some current ones passed through
    assert pool.query(first).requires_grad is False
    passthrough = ImagePool(0, seed=0)
    batch = torch.randn(3, 1, 2, 2)
    assert torch.equal(passthrough.query(batch), batch)
    # Its state resumes the same draws.
    again = ImagePool(4, seed=1)
    again.load_state_dict(pool.state_dict(), CPU)
    probe = torch.full((6, 1, 1, 1), 99.0)
    assert torch.equal(pool.query(probe), again.query(probe))


# -- suites ----------------------------------------------------------------------------------


REFUSED = {
    "a translator on unpaired data": (
        'name = "digits"',
        'preset = "pix2pix_digits"',
        "recipe 'pix2pix' needs aligned source-target",
    ),
    "a recipe's axis on another recipe": (
        'name = "digit_pairs"',
        'preset = "gan"\nl1_weight = 10.0',
        "l1_weight is a setting of the pix2pix recipe",
    ),
    "a U-Net deeper than the image": (
        'name = "digit_pairs"',
        'preset = "pix2pix_digits"\ndepth = 4',
        "depth <= 3",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_suites_refuse_recipes_on_data_they_cannot_train_on(write_suite, case):
    from harness.config import SuiteError, load_suite

    dataset, variant, message = REFUSED[case]
    text = (
        f'name = "x"\nseeds = [0]\n[budget]\ng_steps = 10\n[[datasets]]\n{dataset}\n'
        f"[[variants]]\n{variant}\n"
    )
    with pytest.raises(SuiteError, match=message):
        load_suite(write_suite(text))


def test_a_cyclegan_cell_resumes_bit_identically(tmp_path):
    cell = make_cell(
        "cyclegan_digits",
        "digit_unpaired",
        batch_size=8,
        pool_size=4,
        budget={"g_steps": 8, "ticks": 4},
    )
    whole = build(cell, tmp_path / "whole")
    assert whole.run().status == "completed"
    first = build(cell, tmp_path / "cut")
    first.total = first.ticks[1]  # stop after two ticks, as a kill after a checkpoint would
    first.run()
    resumed = build(cell, tmp_path / "cut")
    resumed.resume(tmp_path / "cut" / "checkpoint.pt")
    assert resumed.run().status == "completed"
    for name, tensor in whole.recipe.state_dict()["G"].items():
        assert torch.equal(tensor, resumed.recipe.state_dict()["G"][name])
    assert torch.equal(
        torch.stack(whole.recipe.pool_b.images), torch.stack(resumed.recipe.pool_b.images)
    )


def _tiles(run_dir: Path, size: int = 32, padding: int = 2):
    """The tile at (row, column) of a run's last sample picture, as a (3, size, size) float
    tensor on [0, 255]."""
    import numpy as np
    from PIL import Image

    path = sorted((run_dir / "samples").glob("tick_*.png"))[-1]
    picture = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)

    def tile(row: int, column: int) -> torch.Tensor:
        top, left = padding + row * (size + padding), padding + column * (size + padding)
        return picture[:, top : top + size, left : left + size].float()

    return tile


def _as_saved(image: torch.Tensor, size: int = 32) -> torch.Tensor:
    """An image on [-1, 1] as a sample picture shows it: upscaled, on [0, 255], 3 channels."""
    image = torch.nn.functional.interpolate(image[None], size=(size, size), mode="nearest")[0]
    return ((image.clamp(-1, 1) + 1) / 2 * 255).round().expand(3, -1, -1)


def test_a_translators_sample_picture_shows_source_translation_and_target(tmp_path):
    cell = make_cell("pix2pix_digits", "digit_pairs", batch_size=8, budget={"g_steps": 2})
    trainer = build(cell, tmp_path)
    assert trainer.run().status == "completed"
    tile = _tiles(tmp_path)
    sources, targets = (trainer.data.extra[k] for k in ("source_test", "source_test_target"))
    # Two examples per row: source, translation, target, then a grey separator.
    for example, (row, column) in enumerate([(0, 0), (0, 4), (1, 0)]):
        assert (tile(row, column) - _as_saved(sources[example])).abs().max() <= 1
        assert (tile(row, column + 2) - _as_saved(targets[example])).abs().max() <= 1
        translation = tile(row, column + 1)
        assert (translation - _as_saved(sources[example])).abs().max() > 1
        assert (tile(row, column + 3) - 128).abs().max() <= 1  # the separator


# -- CoGAN -----------------------------------------------------------------------------------


def test_a_coupled_models_sample_picture_shows_each_pair(tmp_path):
    cell = make_cell("cogan", "digit_unpaired", batch_size=8, budget={"g_steps": 2})
    trainer = build(cell, tmp_path)
    assert trainer.run().status == "completed"
    tile = _tiles(tmp_path)
    sampler = trainer.recipe.sampler()
    bank, _ = trainer.evaluator.latent_bank(sampler, 64)  # as the picture draws it
    a, b = sampler.pairs(bank)
    for example, (row, column) in enumerate([(0, 0), (0, 3), (0, 6), (1, 0)]):
        assert (tile(row, column) - _as_saved(a[example])).abs().max() <= 1
        assert (tile(row, column + 1) - _as_saved(b[example])).abs().max() <= 1


def test_cogan_ties_the_same_modules_and_the_control_ties_none():
    tied = build(make_cell("cogan", "digit_unpaired"), UNUSED).recipe
    G, D = tied.G, tied.D
    assert G.shared_a is G.shared_b and D.shared_a is D.shared_b
    assert G.head_a is not G.head_b and D.first_a is not D.first_b
    shared = {id(p) for p in G.shared_a.parameters()}
    assert shared == {id(p) for p in G.shared_b.parameters()}
    untied = build(make_cell("cogan_unshared", "digit_unpaired"), UNUSED).recipe
    a_params = list(untied.G.shared_a.parameters())
    b_params = list(untied.G.shared_b.parameters())
    assert not {id(p) for p in a_params} & {id(p) for p in b_params}
    assert not all(torch.equal(x, y) for x, y in zip(a_params, b_params, strict=True))


def test_a_tied_layer_gets_the_sum_of_both_domains_gradients():
    recipe = build(make_cell("cogan", "digit_unpaired"), UNUSED).recipe
    G = recipe.G.train()
    z = torch.randn(16, recipe.spec.latent_dim)

    def shared_grad(weight_a: float, weight_b: float) -> torch.Tensor:
        G.zero_grad()
        a, b = G.both(z)
        (weight_a * a.square().mean() + weight_b * b.square().mean()).backward()
        return next(G.shared_a.parameters()).grad.clone()

    only_a, only_b, both = shared_grad(1, 0), shared_grad(0, 1), shared_grad(1, 1)
    assert only_a.abs().sum() > 0 and only_b.abs().sum() > 0
    torch.testing.assert_close(both, only_a + only_b)


# -- through the CLI -----------------------------------------------------------------------

TINY = """
name = "tiny-translation"
version = "1"
seeds = [0]

[[datasets]]
name = "digit_pairs"
label = "lowres2digit"
params = { source = "lowres", target = "digit" }

[[datasets]]
name = "digit_unpaired"
label = "digit<inverted>"
params = { source = "digit", target = "inverted" }

[[variants]]
preset = "pix2pix_digits"
width = 8
datasets = ["lowres2digit"]

[[variants]]
preset = "cyclegan_digits"
width = 8
batch_size = 8
datasets = ["digit<inverted>"]

[[variants]]
preset = "cogan"
width = 8
datasets = ["digit<inverted>"]

[budget]
g_steps = 30
ticks = 2

[evaluation]
metrics = ["l1", "ssim_w3", "label_preservation", "cycle_l1_a", "pair_agreement", "pair_label_agreement", "fid"]
num_samples = 400

[study]
variant = "pix2pix_digits"
dataset = "lowres2digit"
objective = "l1"
trials = 2
seeds = [0]

[study.space]
"g_opt.lr" = { type = "float", low = 1e-4, high = 1e-3, log = true }
"""


@pytest.mark.slow  # ~90 s of CLI runs; the baselines and table are also checked in-process below
def test_a_translation_suite_runs_studies_nightly_and_reports_with_its_baselines(
    write_suite, tmp_path
):
    from conftest import run_cli
    from mlflow import MlflowClient

    path = write_suite(TINY)
    results = tmp_path / "results"
    run = run_cli("run", path, results=results, timeout=600)
    assert run.returncode == 0, run.stderr + run.stdout
    # The run table prints the reference rows above the cells.
    for row in ("baseline: identity", "baseline: ridge", "baseline: nearest neighbour"):
        assert row in run.stdout
    # The baselines of lowres→digit are the reference's table (§8.3), through the harness.
    client = MlflowClient(f"sqlite:///{results.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ganbench/tiny-translation")
    rows = {
        (r.data.tags["dataset"], r.data.tags["variant"]): r.data.metrics
        for r in client.search_runs([experiment.experiment_id], "tags.kind = 'real_data'")
    }
    lowres = {
        name: rows[("lowres2digit", f"baseline: {name}")]
        for name in ("identity", "ridge", "nearest neighbour")
    }
    assert lowres["identity"]["l1_400"] == pytest.approx(0.154, abs=1e-3)
    assert lowres["ridge"]["l1_400"] == pytest.approx(0.088, abs=1e-3)
    assert lowres["nearest neighbour"]["l1_400"] == pytest.approx(0.083, abs=1e-3)
    assert lowres["ridge"]["ssim_w3_400"] == pytest.approx(0.788, abs=1e-3)
    assert rows[("digit<inverted>", "real data (held-out)")]["label_preservation_199_cls"] > 0.9
    # Each recipe's own metrics reach its runs, and no other recipe's.
    cells = {
        r.data.tags["variant"]: r.data.metrics
        for r in client.search_runs([experiment.experiment_id])
        if "mlflow.parentRunId" in r.data.tags
    }
    assert "cycle_l1_a_198" in cells["cyclegan_digits"]
    assert "pair_agreement_400" in cells["cogan"] and "l1_198" not in cells["cogan"]
    assert {"l1_400", "label_preservation_400_cls"} <= set(cells["pix2pix_digits"])
    assert not any(k.startswith("cycle") for k in cells["pix2pix_digits"])
    # A study on the suite minimises L1 (its direction comes from the registry), and the
    # nightly job runs it as any suite.
    study = run_cli("study", path, results=results, timeout=600)
    assert study.returncode == 0, study.stderr
    assert "objective l1_400 (minimize)" in study.stdout + study.stderr
    reports = ("--reports-dir", tmp_path / "reports")
    nightly = run_cli("nightly", path, *reports, results=results, timeout=600)
    assert nightly.returncode == 0 and "passed" in nightly.stdout, nightly.stderr
    # The report shows the baselines beside the models, names escaped.
    report = run_cli("report", path, "--out", tmp_path / "report", results=results)
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report" / "leaderboard.html").read_text()
    assert "baseline: ridge" in html and "digit&lt;inverted&gt;" in html
    assert "digit<inverted>" not in html


@pytest.mark.slow  # ~40 s of CLI runs; test_a_cyclegan_cell_resumes_bit_identically is the fast check
def test_sigkill_mid_cyclegan_cell_then_rerun_gives_the_uninterrupted_result(write_suite, tmp_path):
    import json

    from conftest import kill_after_pictures, run_cli, training_values

    text = TINY.split("[[variants]]")[0] + (
        '[[variants]]\npreset = "cyclegan_digits"\nwidth = 8\nbatch_size = 8\n'
        'datasets = ["digit<inverted>"]\n\n[budget]\ng_steps = 160\nticks = 8\n\n'
        '[evaluation]\nmetrics = ["l1", "cycle_l1_a"]\nnum_samples = 400\n'
    )
    path = write_suite(text)
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    samples = kill_after_pictures(("run", path), killed, "runs/tiny-translation/*/samples", 2)
    assert json.loads((samples.parent / "state.json").read_text())["status"] == "running"
    resumed = run_cli("run", path, results=killed, timeout=600)
    assert resumed.returncode == 0 and "resuming at iteration" in resumed.stderr, resumed.stderr
    from harness.config import load_suite
    from harness.runner import run_suite

    assert run_suite(load_suite(path), straight, device="cpu").ok  # the uninterrupted run

    def record(root):
        state = next(root.glob("runs/tiny-translation/*/state.json"))
        return json.loads(state.read_text())["record"]

    assert training_values(record(killed)) == training_values(record(straight))


def test_baseline_rows_reproduce_the_reference_and_sit_above_the_cells(write_suite, tmp_path):
    """In process (the CLI path, with label preservation, is the slow test above): the
    lowres→digit baselines, scored by the harness like a model, are the reference's table
    (§8.3), and the run table prints them with the real-data row above the cells. Pixel
    metrics alone: no classifier is trained."""
    from harness.config import load_suite
    from harness.progress import summary_table
    from harness.runner import run_suite

    text = TINY.split('[[datasets]]\nname = "digit_unpaired"')[0] + (
        '[[variants]]\npreset = "pix2pix_digits"\nwidth = 8\n\n[budget]\ng_steps = 10\n'
        'ticks = 1\n\n[evaluation]\nmetrics = ["l1", "ssim_w3"]\n'
        "num_samples = 400\n"
    )
    result = run_suite(load_suite(write_suite(text)), tmp_path / "results", device="cpu")
    assert result.ok
    rows = result.real["lowres2digit"]
    assert list(rows) == [
        "real data (held-out)",
        "baseline: identity",
        "baseline: ridge",
        "baseline: nearest neighbour",
    ]
    assert rows["baseline: identity"]["l1_400"] == pytest.approx(0.154, abs=1e-3)
    assert rows["baseline: ridge"]["l1_400"] == pytest.approx(0.088, abs=1e-3)
    assert rows["baseline: nearest neighbour"]["l1_400"] == pytest.approx(0.083, abs=1e-3)
    assert rows["baseline: ridge"]["ssim_w3_400"] == pytest.approx(0.788, abs=1e-3)
    assert rows["baseline: nearest neighbour"]["ssim_w3_400"] == pytest.approx(0.820, abs=1e-3)
    assert "l1_400" not in rows["real data (held-out)"]  # real targets have no translation
    lines = summary_table(result.results, result.real).splitlines()
    order = [line.split("  ")[0].strip() for line in lines[2:]]
    assert order == [*rows, "pix2pix_digits"]
