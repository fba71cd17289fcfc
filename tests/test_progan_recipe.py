"""ProGAN as a training recipe (variant-zoo reference §4.4): growth on schedule, optimiser
resets, reals at the current resolution, and resume in the middle of a fade."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import make_cell

from harness.data import load_dataset
from harness.evaluate.evaluator import Evaluator
from harness.recipes.progressive import reals_at
from harness.train.loop import Trainer

CPU = torch.device("cpu")
DIGITS16 = {"resolution": 16}
# 4 px for 2 steps of 4 images, an 8-px fade over 4 steps, then 8 px, a 16-px fade, 16 px.
SMALL = {"batch_size": 4, "width": 8, "stabilise_kimg": 0.008, "fade_kimg": 0.016}


def build(run_dir: Path, **axes):
    cell = make_cell("progan_digits", "digits", DIGITS16, **{**SMALL, **axes})
    data = load_dataset(cell.dataset, cell.dataset_params)
    return Trainer(cell, data, CPU, Evaluator(cell.evaluation, data, CPU), run_dir)


def test_the_nets_grow_on_schedule_and_the_optimisers_restart_at_each_growth(tmp_path):
    trainer = build(tmp_path / "unused", budget={"g_steps": 12, "ticks": 1})
    recipe = trainer.recipe
    seen = []
    for _ in range(12):
        before = recipe.resolution
        trainer.step()
        first = next(iter(recipe.opt_d.state.values()))
        seen.append((recipe.resolution, round(recipe.schedule.at(recipe.images - 4)[1], 2)))
        if recipe.resolution != before:  # the step that grew ran on fresh optimisers
            assert int(first["step"]) == 1
        else:
            assert int(first["step"]) > 1 or len(seen) == 1
    assert seen[:2] == [(4, 1.0), (4, 1.0)]
    assert seen[2:6] == [(8, 0.0), (8, 0.25), (8, 0.5), (8, 0.75)]
    assert seen[6:8] == [(8, 1.0), (8, 1.0)]
    assert seen[8] == (16, 0.0)


def test_reals_are_shown_at_the_current_resolution_and_blended_during_a_fade():
    real = torch.randn(3, 1, 16, 16)
    assert torch.equal(reals_at(real, 16, 1.0), real)
    assert torch.allclose(reals_at(real, 4, 1.0), F.avg_pool2d(real, 4))
    eight = F.avg_pool2d(real, 2)
    blurred = F.interpolate(F.avg_pool2d(eight, 2), scale_factor=2, mode="nearest")
    assert torch.allclose(reals_at(real, 8, 0.0), blurred)
    assert torch.allclose(reals_at(real, 8, 0.5), 0.5 * blurred + 0.5 * eight)


def test_evaluation_sees_the_final_resolution_from_the_start(tmp_path):
    trainer = build(tmp_path / "unused", budget={"g_steps": 1, "ticks": 1})
    samples, _ = trainer.evaluator.generate(trainer.recipe.sampler(), 8)
    assert samples.shape == (8, 1, 16, 16)
    blocks = samples.reshape(8, 1, 4, 4, 4, 4)  # 4-px images upsampled: constant 4×4 blocks
    assert torch.equal(blocks, blocks[:, :, :, :1, :, :1].expand_as(blocks))


def test_a_kill_in_the_middle_of_a_fade_resumes_bit_identically(tmp_path):
    budget = {"g_steps": 8, "ticks": 4}
    whole = build(tmp_path / "whole", budget=budget)
    assert whole.run().status == "completed"
    first = build(tmp_path / "cut", budget=budget)
    first.total = first.ticks[1]  # stop after two ticks: 16 images, halfway through a fade
    first.run()
    assert first.recipe.stage() == (8, 0.5)
    resumed = build(tmp_path / "cut", budget=budget)
    resumed.resume(tmp_path / "cut" / "checkpoint.pt")
    assert resumed.run().status == "completed"
    for part in ("generator", "discriminator", "generator_ema"):
        for name, tensor in whole.recipe.state_dict()[part].items():
            assert torch.equal(tensor, resumed.recipe.state_dict()[part][name]), (part, name)


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ({"fade_kimg": 0.0}, "keeps progan's structure fixed"),
        ({"batch_size": 6}, "multiple of 4"),
        ({"penalty": "r1", "penalty_target": 750.0}, "penalty_target is the target gradient norm"),
        ({"attention": 8}, "attention is implemented by the resnet architecture"),
    ],
)
def test_settings_progan_cannot_train_with_are_refused(axes, message):
    with pytest.raises(ValueError, match=message):
        make_cell("progan_digits", "digits", DIGITS16, **axes)


@pytest.mark.slow  # ~30 s of CLI runs; the in-process mid-fade resume test above is the fast check
def test_sigkill_during_a_fade_then_rerun_gives_the_uninterrupted_result(write_suite, tmp_path):
    """Through the CLI, as a user would: kill -9 while the 8-px resolution fades in (its fade
    spans ticks 2–26 of 40), run again, and every tensor of the final checkpoint and the last
    tick record equal those of a run never interrupted."""

    from conftest import final_cell, kill_after_pictures, run_cli, training_values

    path = write_suite(
        """
        name = "fade"
        seeds = [0]
        [[datasets]]
        name = "digits"
        params = { resolution = 16 }
        [[variants]]
        preset = "progan_digits"
        width = 8
        batch_size = 4
        stabilise_kimg = 0.024
        fade_kimg = 0.4
        [budget]
        g_steps = 160
        ticks = 40
        [evaluation]
        metrics = []
        """
    )
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    samples = kill_after_pictures(("run", path), killed, "runs/fade/*/samples", 3)
    cell = samples.parent
    shown = torch.load(cell / "checkpoint.pt", weights_only=True)["recipe"]["images"]
    assert 24 < shown < 24 + 400, f"killed at {shown} images, not during the 8-px fade"
    resumed = run_cli("run", path, results=killed, timeout=600)
    assert resumed.returncode == 0 and "resuming at iteration" in resumed.stderr, resumed.stderr
    assert run_cli("run", path, results=straight, timeout=600).returncode == 0

    record_a, state_a = final_cell(killed, "runs/fade/*/state.json")
    record_b, state_b = final_cell(straight, "runs/fade/*/state.json")
    assert training_values(record_a) == training_values(record_b)
    for part in ("generator", "discriminator", "generator_ema", "opt_g", "opt_d"):
        flat_a = torch.nn.utils.parameters_to_vector(
            [t for t in _tensors(state_a[part]) if t.is_floating_point()]
        )
        flat_b = torch.nn.utils.parameters_to_vector(
            [t for t in _tensors(state_b[part]) if t.is_floating_point()]
        )
        assert torch.equal(flat_a, flat_b), part


def _tensors(state) -> list[torch.Tensor]:
    """Every tensor in a (nested) state dict, in a fixed order."""
    if isinstance(state, torch.Tensor):
        return [state.flatten()]
    if isinstance(state, dict):
        return [t for key in sorted(state, key=str) for t in _tensors(state[key])]
    if isinstance(state, list | tuple):
        return [t for item in state for t in _tensors(item)]
    return []


def test_the_batch_follows_the_resolution_and_the_budget_counts_every_image(tmp_path):
    """batch_sizes: 8 images a step at 4 px, 4 at 8 px, batch_size (12) at 16 px. The budget
    in kimg becomes the steps a step-by-step walk of the schedule needs, no more."""
    axes = {"batch_sizes": {"4": 8, "8": 4}, "batch_size": 12}
    trainer = build(tmp_path / "unused", budget={"kimg": 0.2, "ticks": 1}, **axes)
    recipe = trainer.recipe
    shown, steps, sizes = 0, 0, []
    while shown < 200:  # the walk, by hand: each step's batch is its resolution's
        size = {4: 8, 8: 4, 16: 12}[recipe.schedule.at(shown)[0]]
        sizes.append(size)
        shown, steps = shown + size, steps + 1
    assert trainer.total == steps == recipe.steps_for(200)
    assert recipe.examples_before(steps) == shown
    seen = []
    for _ in range(steps):
        resolution = recipe.stage()[0]
        before = trainer.images_seen
        trainer.step()
        seen.append(trainer.images_seen - before)
        assert seen[-1] == {4: 8, 8: 4, 16: 12}[resolution]
    assert seen == sizes and trainer.images_seen == shown >= 200 > shown - sizes[-1]
