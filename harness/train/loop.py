"""The tick loop: train one cell under its budget, one tick at a time.

The budget is counted in real images shown to D (or in generator steps), so variants with
more D steps per G step see the same data. Each tick ends with averaged stats, a picture of
samples from the fixed latent bank, an evaluation when due, and a checkpoint holding every
piece of state needed to resume bit-identically. Training never imports tracking code: what
it has to report goes to the ``sink`` the runner hands in.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from harness.train.checkpoint import load_checkpoint, save_checkpoint
from harness.train.grids import save_samples
from harness.train.seeding import derive_seed
from harness.variants import ARCHITECTURES, LOSSES, PENALTIES
from harness.variants.nets.common import RealStatsBatchNorm, discriminate

# Latents from the bank pictured every tick: a scatter of points, or an 8×8 grid of images.
SAMPLE_COUNT = {"points": 1000, "images": 64}


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


class EpochSampler:
    """Batches of indices in a fresh permutation per epoch; its state is (epoch, position).

    Each epoch's permutation is drawn from a generator seeded by (data seed, epoch), so the
    state is two integers and resuming needs no generator state.
    """

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        if batch_size > size:
            raise ValueError(f"batch_size {batch_size} exceeds the {size} training examples")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.epoch, self.position = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.size, generator=generator)

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > self.size:
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation()
        batch = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._order = self._permutation()


def make_optimizer(spec, parameters) -> torch.optim.Optimizer:
    if spec.name == "adam":
        return torch.optim.Adam(
            parameters, spec.lr, betas=spec.betas, weight_decay=spec.weight_decay
        )
    if spec.name == "rmsprop":
        return torch.optim.RMSprop(parameters, spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.SGD(
        parameters, spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )


def total_iterations(cell) -> int:
    """Iterations (one G step and ``d_steps`` D steps each) that the budget allows."""
    if cell.budget.g_steps is not None:
        return cell.budget.g_steps
    images_per_iteration = cell.variant.d_steps * cell.variant.batch_size
    return max(1, math.ceil(cell.budget.kimg * 1000 / images_per_iteration))


def tick_ends(total: int, ticks: int) -> list[int]:
    """The iteration at which each tick ends (fewer ticks when the run is very short)."""
    return sorted({max(1, round(total * (t + 1) / ticks)) for t in range(ticks)})


class Trainer:
    """Nets, optimisers and RNG streams of one cell, and the loop that trains them."""

    def __init__(self, cell, data, device: torch.device, evaluator, run_dir: Path) -> None:
        self.cell, self.data, self.device = cell, data, device
        self.evaluator, self.run_dir = evaluator, Path(run_dir)
        variant = cell.variant
        self.variant = variant
        self.loss = LOSSES.get(variant.loss)
        self.penalty = PENALTIES.get(variant.penalty)

        # Separate seed streams: init, data order, latents (and penalty noise).
        torch.manual_seed(derive_seed(cell.seed, "init"))
        generator, discriminator = ARCHITECTURES.get(variant.architecture)(variant, data.info)
        self.G, self.D = generator.to(device), discriminator.to(device)
        # With batch norm in D, the G step shows D its last real batch beside the fakes.
        self.joint_batches = any(isinstance(m, RealStatsBatchNorm) for m in self.D.modules())
        self.G_ema = copy.deepcopy(self.G).eval() if variant.ema > 0 else None
        self.opt_g = make_optimizer(variant.g_opt, self.G.parameters())
        self.opt_d = make_optimizer(variant.d_opt, self.D.parameters())
        self.sampler = EpochSampler(
            len(data.train_x), variant.batch_size, derive_seed(cell.seed, "data")
        )
        self.latent_rng = torch.Generator().manual_seed(derive_seed(cell.seed, "latent"))
        self.train_x = data.train_x.to(device)
        self.train_y = data.train_y.to(device)

        self.total = total_iterations(cell)
        self.ticks = tick_ends(self.total, cell.budget.ticks)
        self.iteration = self.tick = self.d_steps_done = 0
        self.wall_seconds = 0.0
        self.last_record: dict = {}
        self.partial: torch.Tensor | None = None  # stats of a tick cut short by the time cap
        self.best: dict = {"score": None, "record": {}}  # chosen on the selection score

    # -- state ---------------------------------------------------------------------------

    @property
    def images_seen(self) -> int:
        return self.d_steps_done * self.variant.batch_size

    def state_dict(self) -> dict:
        return {
            "spec_hash": self.cell.spec_hash,
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "generator_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "iteration": self.iteration,
            "tick": self.tick,
            "d_steps": self.d_steps_done,
            "wall_seconds": self.wall_seconds,
            "sampler": self.sampler.state_dict(),
            "latent_rng": self.latent_rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            "last_record": self.last_record,
            "partial_tick": self.partial,
            "best": self.best,
        }

    def load_state_dict(self, state: dict) -> None:
        if state["spec_hash"] != self.cell.spec_hash:
            raise ValueError("checkpoint belongs to a different spec")
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["generator_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.iteration, self.tick = state["iteration"], state["tick"]
        self.d_steps_done, self.wall_seconds = state["d_steps"], state["wall_seconds"]
        self.sampler.load_state_dict(state["sampler"])
        self.latent_rng.set_state(state["latent_rng"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.last_record = state["last_record"]
        self.partial = state["partial_tick"]
        self.best = state["best"]

    def resume(self, path: Path) -> None:
        self.load_state_dict(load_checkpoint(path))

    # -- one iteration -----------------------------------------------------------------

    def _latents(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.variant.latent_dim, generator=self.latent_rng).to(
            self.device
        )

    def step(self) -> tuple[torch.Tensor, ...]:
        """``d_steps`` discriminator steps then one generator step; returns detached stats."""
        variant, G, D = self.variant, self.G, self.D
        conditional = variant.conditional
        for _ in range(variant.d_steps):
            index = self.sampler.next().to(self.device)
            real = self.train_x[index]
            labels = self.train_y[index] if conditional else None
            with torch.no_grad():
                fake = G(self._latents(len(index)), labels)
            real_out, fake_out = discriminate(self.D, real, fake, labels, labels)
            d_loss = self.loss.d_loss(real_out, fake_out)
            penalty = None
            if self.penalty.term is not None:
                penalty = self.penalty.term(D, real, fake, labels, self.latent_rng)
                d_loss = d_loss + variant.penalty_weight * penalty
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            if self.penalty.after_step is not None:
                self.penalty.after_step(D, variant)
        self.d_steps_done += variant.d_steps

        # Generator step, with D frozen so no D gradients are computed.
        labels = (
            torch.randint(
                self.data.info.num_classes, (variant.batch_size,), generator=self.latent_rng
            ).to(self.device)
            if conditional
            else None
        )
        D.requires_grad_(False)
        fake = G(self._latents(variant.batch_size), labels)
        if self.joint_batches:  # beside the last real batch, as D saw it
            real_labels = self.train_y[index] if conditional else None
            _, fake_g_out = discriminate(self.D, real, fake, real_labels, labels)
        else:
            fake_g_out = D(fake, labels)
        g_loss = self.loss.g_loss(fake_g_out)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        D.requires_grad_(True)
        if self.G_ema is not None:
            self._update_ema()
        self.iteration += 1
        stats = (
            d_loss.detach(),
            g_loss.detach(),
            real_out.detach().mean(),
            fake_out.detach().mean(),
        )
        return stats + ((penalty.detach(),) if penalty is not None else ())

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.variant.ema
        for ema_p, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            ema_p.lerp_(p, 1 - decay)
        for ema_b, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            ema_b.copy_(b)

    # -- the loop ----------------------------------------------------------------------

    def run(self, sink: Sink | None = None, max_seconds: float | None = None) -> Outcome:
        """Train until the budget, a divergence, or the wall-clock cap; one tick at a time."""
        names = ("loss_d", "loss_g", "d_real", "d_fake", "penalty")
        sink = sink or NullSink()
        started = time.perf_counter()
        wall_at_start = self.wall_seconds
        while self.iteration < self.total:
            # Train the iterations of this tick, keeping per-step stats as tensors. A tick cut
            # short by the time cap keeps its stats in the checkpoint and is finished on resume.
            segment_start, segment_started = self.iteration, time.perf_counter()
            history = [tuple(row) for row in self.partial] if self.partial is not None else []
            tick_start = self.iteration - len(history)
            out_of_time = False
            while self.iteration < self.ticks[self.tick]:
                history.append(self.step())
                sink.on_step(self.iteration)
                if max_seconds is not None and time.perf_counter() - started > max_seconds:
                    out_of_time = self.iteration < self.ticks[self.tick]
                    break
            self.wall_seconds = wall_at_start + time.perf_counter() - started

            # Stop at the first non-finite or exploded loss, naming the step and the loss.
            stacked = torch.stack([torch.stack(h) for h in history])
            bad = ~torch.isfinite(stacked) | (stacked.abs() > self.cell.budget.diverge_above)
            if bad.any():
                return self._diverged(stacked, bad, names, tick_start)

            # Stats, samples, evaluation when due, then the checkpoint.
            record = self._tick_record(stacked, names)
            images = (
                (self.iteration - segment_start) * self.variant.d_steps * self.variant.batch_size
            )
            record["sec_per_kimg"] = (time.perf_counter() - segment_started) / (images / 1000)
            final = self.iteration >= self.total or out_of_time
            evaluated = final or (self.tick + 1) % self.cell.evaluation.every_ticks == 0
            generator = self.G_ema if self.G_ema is not None else self.G
            if evaluated:
                scores = self.evaluator.evaluate(
                    generator, self.variant.latent_dim, self.variant.conditional, final
                )
                record.update(scores)
                self._consider_best(generator, scores, record)
            samples, _ = self.evaluator.generate(
                generator,
                self.variant.latent_dim,
                self.variant.conditional,
                SAMPLE_COUNT[self.data.info.kind],
            )
            samples_path = save_samples(
                samples, self.data, self.run_dir / "samples" / f"tick_{self.tick + 1:04d}.png"
            )
            self.partial = stacked if out_of_time else None
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

    def _consider_best(self, generator, scores: dict, record: dict) -> None:
        """Keep the generator whose selection score (measured apart from the reported scores)
        is the best so far, with the scores reported at that tick."""
        selection = self.evaluator.selection_score(
            generator, self.variant.latent_dim, self.variant.conditional
        )
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
        state = {"spec_hash": self.cell.spec_hash, "generator": generator.state_dict(), **self.best}
        save_checkpoint(state, self.run_dir / "best.pt")

    def _diverged(self, stacked, bad, names, tick_start: int) -> Outcome:
        row, column = bad.nonzero()[0].tolist()
        step = tick_start + row + 1
        images = step * self.variant.d_steps * self.variant.batch_size
        value = float(stacked[row, column])
        what = (
            "became non-finite"
            if not math.isfinite(value)
            else (f"reached {value:.3g}, beyond diverge_above={self.cell.budget.diverge_above:g}")
        )
        reason = f"{names[column]} {what} at generator step {step} ({images} images seen)"
        return Outcome("diverged", reason, self.last_record)

    def _tick_record(self, stacked: torch.Tensor, names: tuple[str, ...]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "tick": self.tick + 1,
            "images_seen": self.images_seen,
            "kimg": self.images_seen / 1000,
            "g_steps": self.iteration,
            "d_steps": self.d_steps_done,
            "wall_seconds": self.wall_seconds,
        }
        means = stacked.double().mean(dim=0).tolist()
        record.update(zip(names, means, strict=False))
        return record
