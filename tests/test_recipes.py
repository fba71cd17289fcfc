"""Training recipes: the registry, the adversarial recipe's PacGAN ``pack`` axis, and resume
through the generic loop."""

import pytest
import torch
from conftest import make_cell

from harness.data import load_dataset
from harness.evaluate.evaluator import Evaluator
from harness.recipes import RECIPES
from harness.recipes.adversarial import pack_batch
from harness.train.loop import Trainer

CPU = torch.device("cpu")
POINTS = {"size": 512, "test_size": 128}


def build(cell, tmp_path):
    data = load_dataset(cell.dataset, cell.dataset_params)
    return Trainer(cell, data, CPU, Evaluator(cell.evaluation, data, CPU), tmp_path)


def first_layer(module: torch.nn.Module):
    return next(m for m in module.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d))


def test_every_preset_names_a_registered_recipe():
    from harness.variants import PRESETS

    translation = {
        "pix2pix": "digit_pairs",
        "cyclegan": "digit_unpaired",
        "cogan": "digit_unpaired",
    }
    for name in PRESETS.names():
        meta = PRESETS.meta(name)
        recipe = PRESETS.get(name)("images").get("recipe", "adversarial")
        if recipe in translation:
            # The paper-scale presets are for 256 px; on the 8-px tasks, at the CPU scale.
            axes = {"depth": 3, "blocks": 1, "kernel": 3, "d_layers": 1}
            axes = {k: v for k, v in axes.items() if k in PRESETS.get(name)("images")}
            cell = make_cell(name, translation[recipe], **axes)
        elif "points" in meta["kinds"]:
            cell = make_cell(name, "ring8", POINTS)
        elif "sequences" in meta["kinds"]:
            cell = make_cell(name, "oracle_lstm", {"vocab": 20, "size": 100, "test_size": 50})
        else:
            cell = make_cell(name, "digits", {"resolution": meta["resolution"] or 16})
        assert cell.variant.recipe == recipe and recipe in RECIPES, name


@pytest.mark.parametrize(
    "preset,dataset,params", [("gan", "ring8", POINTS), ("dcgan", "stacked_digits", POINTS)]
)
def test_pack_widens_only_the_first_layer_of_d(preset, dataset, params, tmp_path):
    base = build(make_cell(preset, dataset, params, width=16, batch_size=8), tmp_path / "a")
    packed = build(make_cell(preset, dataset, params, width=16, batch_size=8, pack=3), tmp_path)
    first_base, first_packed = first_layer(base.recipe.D), first_layer(packed.recipe.D)
    base_width = getattr(first_base, "in_features", None) or first_base.in_channels
    packed_width = getattr(first_packed, "in_features", None) or first_packed.in_channels
    assert packed_width == 3 * base_width
    shapes = lambda net: [p.shape for n, p in net.named_parameters()]  # noqa: E731
    d_base, d_packed = shapes(base.recipe.D), shapes(packed.recipe.D)
    differing = [i for i, (a, b) in enumerate(zip(d_base, d_packed, strict=True)) if a != b]
    assert differing == [0]  # the first layer's weight; its bias and every later layer agree
    assert shapes(base.recipe.G) == shapes(packed.recipe.G)  # G is unchanged


def test_a_pack_is_m_different_latents_and_m_different_real_examples(tmp_path):
    m, batch = 4, 8
    trainer = build(make_cell("gan", "ring8", POINTS, batch_size=batch, pack=m), tmp_path)
    recipe = trainer.recipe
    latents, d_inputs = [], []
    recipe.G.register_forward_pre_hook(lambda mod, args: latents.append(args[0].clone()))
    recipe.D.register_forward_pre_hook(lambda mod, args: d_inputs.append(args[0].clone()))
    trainer.step()
    # D step then G step: G gets m·batch latents each time, all different.
    assert [len(z) for z in latents] == [m * batch, m * batch]
    assert all(len(torch.unique(z, dim=0)) == m * batch for z in latents)
    real = d_inputs[0]  # the D step's real packs come first
    assert real.shape == (batch, 2 * m)
    slots = real.view(batch, m, 2)
    for b in range(batch):
        assert len(torch.unique(slots[b], dim=0)) == m  # never one example repeated m times
    # The budget counts every packed image.
    assert trainer.images_seen == m * batch * trainer.cell.variant.d_steps
    assert trainer.total == -(-trainer.cell.budget.kimg * 1000 // (m * batch))


def test_pacgans_2d_nets_start_from_the_papers_init(tmp_path):
    """PacGAN's code draws every weight from N(0, 0.02²) with zero biases, and G's hidden layers
    have no bias (batch norm's shift replaces it); PyTorch's default init is uniform with a
    bound of 1/sqrt(fan_in), which for D's 1,000-wide maxout layers is 0.07."""
    trainer = build(make_cell("gan_pacgan2d", "grid25", POINTS, pack=4), tmp_path)
    linears = [
        (name, m)
        for net in (trainer.recipe.G, trainer.recipe.D)
        for name, m in net.named_modules()
        if isinstance(m, torch.nn.Linear)
    ]
    assert len(linears) == 5 + 4  # G: 4 hidden + output; D: 3 maxout + output
    for name, layer in linears:
        if layer.weight.numel() >= 400:  # enough draws to read the spread
            assert abs(layer.weight.std().item() - 0.02) < 0.004, name
        assert layer.weight.abs().max().item() < 0.02 * 7, name
    G_linears = [m for m in trainer.recipe.G.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.bias is None for m in G_linears] == [True] * 4 + [False]
    biases = [m.bias for _, m in linears if m.bias is not None]
    assert all(torch.count_nonzero(b) == 0 for b in biases)


def test_pack_batch_groups_consecutive_samples():
    x = torch.arange(12.0).view(6, 2)
    packed = pack_batch(x, 3)
    assert packed.shape == (2, 6) and torch.equal(packed[1], torch.arange(6.0, 12.0))
    images = torch.randn(4, 3, 8, 8)
    assert torch.equal(pack_batch(images, 2)[0, 3:], images[1])


def test_pack_1_is_the_base_variant_bit_for_bit(tmp_path):
    base = make_cell("dcgan", "stacked_digits", POINTS, width=16, batch_size=8)
    explicit = make_cell("dcgan", "stacked_digits", POINTS, width=16, batch_size=8, pack=1)
    assert explicit.spec_hash == base.spec_hash
    packed = make_cell("dcgan", "stacked_digits", POINTS, width=16, batch_size=8, pack=2)
    assert packed.spec_hash != base.spec_hash
    a, b = build(base, tmp_path / "a"), build(explicit, tmp_path / "b")
    for _ in range(3):
        a.step(), b.step()
    for key, tensor in a.recipe.G.state_dict().items():
        assert torch.equal(tensor, b.recipe.G.state_dict()[key])


def test_a_packed_cell_resumes_bit_identically(tmp_path):
    cell = make_cell(
        "gan", "ring8", POINTS, batch_size=16, pack=2, budget={"kimg": 0.256, "ticks": 4}
    )
    whole = build(cell, tmp_path / "whole")
    assert whole.run().status == "completed"
    first = build(cell, tmp_path / "cut")
    first.total = first.ticks[1]  # stop after two ticks, as a kill after a checkpoint would
    first.run()
    resumed = build(cell, tmp_path / "cut")
    resumed.resume(tmp_path / "cut" / "checkpoint.pt")
    assert resumed.run().status == "completed"
    assert resumed.images_seen == whole.images_seen
    for key, tensor in whole.recipe.state_dict()["generator"].items():
        assert torch.equal(tensor, resumed.recipe.state_dict()["generator"][key])
