"""The tick loop: train one cell's recipe under its budget, one tick at a time.

The loop is the same for every training recipe (``harness.recipes``): it owns the budget, the
ticks, the batch streams, the RNG state, evaluation, the best checkpoint and resuming; the
recipe owns the nets and what one step does. The budget is counted in real examples the
recipe consumed (images shown to D, packed ones included) or in steps, so variants with more
D steps per G step see the same data. Each tick ends with averaged stats, a picture of
samples from the fixed latent bank, an evaluation when due, and a checkpoint holding every
piece of state needed to resume bit-identically. Training never imports tracking code: what
it has to report goes to the ``sink`` the runner hands in.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from harness.recipes.base import Batches
from harness.train.checkpoint import load_checkpoint, save_checkpoint
from harness.train.grids import save_samples
from harness.train.seeding import derive_seed

# Latents from the bank pictured every tick: a scatter of points, or an 8×8 grid of images.
SAMPLE_COUNT = {"points": 1000, "images": 64, "sequences": 32}
CHECKPOINT_FORMAT = 2  # 2: training recipes (recipe state under "recipe", named streams)


class Sink(Protocol):
    """Where the loop reports; the runner implements it (MLflow, progress, local files)."""

    def on_step(self, iteration: int) -> None: ...

    def on_tick(self, record: dict, samples_path: Path, evaluated: bool) -> str | None:
        """Returning a reason stops the run after this tick (a study pruning its trial)."""


class NullSink:
    def on_step(self, iteration: int) -> None:
        pass

    def on_tick(self, record: dict, samples_path: Path, evaluated: bool) -> None:
        pass


@dataclass
class Outcome:
    status: str  # completed | time_limit | diverged | pruned
    reason: str = ""
    record: dict = field(default_factory=dict)
    best: dict = field(default_factory=dict)  # reported scores at the best checkpoint


def total_iterations(cell, recipe) -> int:
    """Recipe steps that the budget allows (``kimg`` counts real examples consumed)."""
    if cell.budget.g_steps is not None:
        return cell.budget.g_steps
    return recipe.steps_for(cell.budget.kimg * 1000)


def tick_ends(total: int, ticks: int) -> list[int]:
    """The iteration at which each tick ends (fewer ticks when the run is very short)."""
    return sorted({max(1, round(total * (t + 1) / ticks)) for t in range(ticks)})


def build_recipe(cell, data, device: torch.device):
    """The cell's recipe, its nets initialised from the cell's ``init`` seed stream."""
    from harness.recipes import RECIPES

    torch.manual_seed(derive_seed(cell.seed, "init"))
    return RECIPES.get(cell.variant.recipe)(cell.variant, data, device, cell.seed)


class Trainer:
    """A cell's recipe, its batch streams and RNG state, and the loop that trains it."""

    def __init__(self, cell, data, device: torch.device, evaluator, run_dir: Path) -> None:
        self.cell, self.data, self.device = cell, data, device
        self.evaluator, self.run_dir = evaluator, Path(run_dir)
        self.recipe = build_recipe(cell, data, device)
        self.batches = Batches(data, cell.seed, device)
        self.recipe.check(self.batches)

        self.total = total_iterations(cell, self.recipe)
        self.recipe.plan(self.total)
        self.ticks = tick_ends(self.total, cell.budget.ticks)
        self.iteration = self.tick = self.images_seen = 0
        self.wall_seconds = 0.0
        self.eval_wall = 0.0  # seconds spent evaluating (scores and best-checkpoint choice)
        self.last_record: dict = {}
        self.partial: dict | None = None  # stats of a tick cut short by the time cap
        self.best: dict = {"score": None, "record": {}}  # chosen on the selection score

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "spec_hash": self.cell.spec_hash,
            "recipe": self.recipe.state_dict(),
            "batches": self.batches.state_dict(),
            "iteration": self.iteration,
            "tick": self.tick,
            "images_seen": self.images_seen,
            "wall_seconds": self.wall_seconds,
            "eval_wall": self.eval_wall,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            "last_record": self.last_record,
            "partial_tick": self.partial,
            "best": self.best,
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                "the checkpoint was written before training recipes (checkpoint format "
                f"{state.get('format', 1)}, this version reads {CHECKPOINT_FORMAT}); delete "
                "the cell's run directory to train it again"
            )
        if state["spec_hash"] != self.cell.spec_hash:
            raise ValueError("checkpoint belongs to a different spec")
        self.recipe.load_state_dict(state["recipe"])
        self.batches.load_state_dict(state["batches"])
        self.iteration, self.tick = state["iteration"], state["tick"]
        self.images_seen, self.wall_seconds = state["images_seen"], state["wall_seconds"]
        self.eval_wall = state.get("eval_wall", 0.0)
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.last_record = state["last_record"]
        self.partial = state["partial_tick"]
        self.best = state["best"]

    def resume(self, path: Path) -> None:
        self.load_state_dict(load_checkpoint(path))

    def step(self) -> dict[str, torch.Tensor]:
        """One recipe step; returns its detached statistics by name."""
        result = self.recipe.step(self.batches)
        self.images_seen += result.examples
        self.iteration += 1
        return result.stats

    # -- the loop ----------------------------------------------------------------------

    def run(self, sink: Sink | None = None, max_seconds: float | None = None) -> Outcome:
        """Train until the budget, a divergence, or the wall-clock cap; one tick at a time."""
        sink = sink or NullSink()
        started = time.perf_counter()
        wall_at_start = self.wall_seconds
        while self.iteration < self.total:
            # Train the iterations of this tick, keeping per-step stats as tensors. A tick cut
            # short by the time cap keeps its stats in the checkpoint and is finished on resume.
            segment_images, segment_started = self.images_seen, time.perf_counter()
            history = _unstack(self.partial) if self.partial is not None else []
            tick_start = self.iteration - len(history)
            out_of_time = False
            while self.iteration < self.ticks[self.tick]:
                history.append(self.step())
                sink.on_step(self.iteration)
                if max_seconds is not None and time.perf_counter() - started > max_seconds:
                    out_of_time = self.iteration < self.ticks[self.tick]
                    break
            self.wall_seconds = wall_at_start + time.perf_counter() - started

            # Stop at the first non-finite or exploded statistic, naming it and the step.
            names = list(history[0])
            stacked = torch.stack([torch.stack([h[n] for n in names]) for h in history])
            bad = ~torch.isfinite(stacked) | (stacked.abs() > self.cell.budget.diverge_above)
            if bad.any():
                return self._diverged(stacked, bad, names, tick_start)

            # Stats, samples, evaluation when due, then the checkpoint.
            record = self._tick_record(stacked, names)
            images = self.images_seen - segment_images
            record["sec_per_kimg"] = (time.perf_counter() - segment_started) / (images / 1000)
            final = self.iteration >= self.total or out_of_time
            evaluated = final or (self.tick + 1) % self.cell.evaluation.every_ticks == 0
            sampler = self.recipe.sampler()
            if evaluated:
                evaluating = time.perf_counter()
                scores = self.evaluator.evaluate(sampler, final)
                record.update(scores)
                self._consider_best(sampler, scores, record)
                self.eval_wall += time.perf_counter() - evaluating
                # The share of the cell's time so far spent evaluating (timing, like wall_s).
                elapsed = wall_at_start + time.perf_counter() - started
                record["eval_share"] = self.eval_wall / elapsed if elapsed > 0 else 0.0
            columns = self.evaluator.picture_columns(sampler, SAMPLE_COUNT[self.data.info.kind])
            samples_path = save_samples(
                columns, self.data, self.run_dir / "samples" / f"tick_{self.tick + 1:04d}.png"
            )
            self.partial = {n: stacked[:, i] for i, n in enumerate(names)} if out_of_time else None
            self.tick += 0 if out_of_time else 1
            self.last_record = record
            save_checkpoint(self.state_dict(), self.run_dir / "checkpoint.pt")
            stop = sink.on_tick(record, samples_path, evaluated)
            if stop and not final:
                return Outcome("pruned", stop, record, self.best["record"])
            if out_of_time:
                return Outcome(
                    "time_limit",
                    f"wall-clock cap of {max_seconds:g} s reached",
                    record,
                    self.best["record"],
                )
        return Outcome("completed", "", self.last_record, self.best["record"])

    def _consider_best(self, sampler, scores: dict, record: dict) -> None:
        """Keep the model whose selection score (measured apart from the reported scores)
        is the best so far, with the scores reported at that tick."""
        selection = self.evaluator.selection_score(sampler)
        if selection is None:
            return
        record["selection_score"] = selection
        if self.best["score"] is not None and selection >= self.best["score"]:
            return
        reported = {
            k: v for k, v in scores.items() if k not in ("eval_seconds", "eval_reference_cached")
        }
        self.best = {
            "score": selection,
            "record": {**reported, "images_seen": self.images_seen, "tick": self.tick + 1},
        }
        state = {"spec_hash": self.cell.spec_hash, "generator": sampler.state_dict(), **self.best}
        save_checkpoint(state, self.run_dir / "best.pt")

    def _diverged(self, stacked, bad, names, tick_start: int) -> Outcome:
        row, column = bad.nonzero()[0].tolist()
        step = tick_start + row + 1
        images = self.recipe.examples_before(step)
        value = float(stacked[row, column])
        what = (
            "became non-finite"
            if not math.isfinite(value)
            else (f"reached {value:.3g}, beyond diverge_above={self.cell.budget.diverge_above:g}")
        )
        reason = f"{names[column]} {what} at generator step {step} ({images} images seen)"
        return Outcome("diverged", reason, self.last_record)

    def _tick_record(self, stacked: torch.Tensor, names: list[str]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "tick": self.tick + 1,
            "images_seen": self.images_seen,
            "kimg": self.images_seen / 1000,
            "g_steps": self.iteration,
            **self.recipe.counters(),
            "wall_seconds": self.wall_seconds,
        }
        means = stacked.double().mean(dim=0).tolist()
        record.update(zip(names, means, strict=True))
        return record


def _unstack(partial: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """A cut-short tick's stats (name → per-step values) back into per-step dicts."""
    steps = len(next(iter(partial.values())))
    return [{name: values[i] for name, values in partial.items()} for i in range(steps)]
