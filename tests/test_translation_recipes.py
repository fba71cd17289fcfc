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
    cell = make_cell(
        "cyclegan_digits", "digit_unpaired", cycle_weight=10.0, identity_weight=0.5
    )
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
    odd = LoadedData(data.train_x, data.train_y, data.test_x, data.test_y, info, {"source_train": rgb})
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


def test_suites_refuse_recipes_on_data_they_cannot_train_on(write_suite):
    from harness.config import SuiteError, load_suite

    path = write_suite(
        """
        name = "x"
        seeds = [0]
        [budget]
        g_steps = 10
        [[datasets]]
        name = "digits"
        [[variants]]
        preset = "pix2pix_digits"
        """
    )
    with pytest.raises(SuiteError, match="recipe 'pix2pix' needs aligned source-target"):
        load_suite(path)
    path = write_suite(
        """
        name = "x"
        seeds = [0]
        [budget]
        g_steps = 10
        [[datasets]]
        name = "digit_pairs"
        [[variants]]
        preset = "gan"
        l1_weight = 10.0
        """
    )
    with pytest.raises(SuiteError, match="l1_weight is a setting of the pix2pix recipe"):
        load_suite(path)
    path = write_suite(
        """
        name = "x"
        seeds = [0]
        [budget]
        g_steps = 10
        [[datasets]]
        name = "digit_pairs"
        [[variants]]
        preset = "pix2pix_digits"
        depth = 4
        """
    )
    with pytest.raises(SuiteError, match="depth <= 3"):
        load_suite(path)


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
