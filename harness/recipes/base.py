"""What every recipe implements, and what the tick loop hands it.

A ``Recipe`` is built from a cell's resolved variant spec, its dataset and a device, after the
loop has seeded torch's global generator from the cell's ``init`` stream (so net
initialisation is reproducible). It then:

- ``plan(total_steps)``: told the steps the budget allows (a learning-rate schedule);
- ``examples_per_step()``: the real examples one step consumes (the budget's unit, counted
  in images shown to a discriminator, packed images included); ``steps_for(examples)`` and
  ``examples_before(steps)`` convert between the two (override both when a step's examples
  vary, as ProGAN's batch per resolution);
- ``step(batches)``: one training step drawing named batches from ``Batches``; returns a
  ``StepResult`` with detached statistics by name and the examples it consumed;
- ``sampler()``: the ``Sampler`` that evaluation, sample pictures and the best checkpoint use;
- ``counters()``: cumulative counts it wants in every tick record (``d_steps``);
- ``state_dict()`` / ``load_state_dict()``: everything of its own needed to resume bit for
  bit (nets, optimisers, buffers, its random generators).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from harness.train.seeding import derive_seed


@dataclass
class StepResult:
    stats: dict[str, torch.Tensor]  # detached scalars, by name (loss_d, loss_g, ...)
    examples: int  # real examples consumed (images shown to D)


class EpochSampler:
    """Indices in a fresh permutation per epoch; its state is (epoch, position).

    Each epoch's permutation is drawn from a generator seeded by (stream seed, epoch), so the
    state is two integers and resuming needs no generator state. A request that does not fit
    in what is left of the epoch starts the next one.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed
        self.epoch, self.position = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.size, generator=generator)

    def next(self, count: int) -> torch.Tensor:
        if count > self.size:
            raise ValueError(f"a batch of {count} exceeds the {self.size} training examples")
        if self.position + count > self.size:
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation()
        batch = self._order[self.position : self.position + count]
        self.position += count
        return batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._order = self._permutation()


class Batches:
    """Named streams of training batches, each with its own seeded order.

    The streams are the dataset's (``LoadedData.streams``): ``real`` (training images or
    points and their labels) always, and the aligned ``pairs`` or the independent ``A`` and
    ``B`` of translation datasets. ``take(name, n)`` gives the next ``n`` rows of stream
    ``name``, one tensor per column (``real``: examples, labels). The stream ``real`` is seeded
    from the cell's ``data`` seed, every other from ``data:<name>``."""

    def __init__(self, data, cell_seed: int, device: torch.device) -> None:
        self.data, self.cell_seed, self.device = data, cell_seed, device
        self.streams = {
            name: tuple(t.to(device) for t in columns) for name, columns in data.streams().items()
        }
        self.x, self.y = self.streams["real"]
        self._samplers: dict[str, EpochSampler] = {}

    def _sampler(self, name: str) -> EpochSampler:
        if name not in self._samplers:
            stream = "data" if name == "real" else f"data:{name}"
            size = len(self.streams[name][0])
            self._samplers[name] = EpochSampler(size, derive_seed(self.cell_seed, stream))
        return self._samplers[name]

    def check(self, name: str, count: int) -> None:
        """Fail before training when a step would ask for more than the data holds."""
        if name not in self.streams:
            raise ValueError(
                f"the recipe takes batches from '{name}' but the dataset offers "
                f"{', '.join(self.streams)}"
            )
        size = len(self.streams[name][0])
        if count > size:
            raise ValueError(
                f"a step takes {count} examples from '{name}' but the training split has "
                f"{size}; lower batch_size (or pack)"
            )

    def take(self, name: str, count: int) -> tuple[torch.Tensor, ...]:
        index = self._sampler(name).next(count).to(self.device)
        return tuple(column[index] for column in self.streams[name])

    def state_dict(self) -> dict:
        return {name: sampler.state_dict() for name, sampler in self._samplers.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, sampler_state in state.items():
            self._sampler(name).load_state_dict(sampler_state)


def truncate(z: torch.Tensor, threshold: float, generator: torch.Generator) -> torch.Tensor:
    """``z`` with every entry beyond ±threshold replaced by a draw from the standard normal
    truncated to [−threshold, threshold] (by its inverse CDF, one uniform per entry): a sample
    of the truncated normal (BigGAN's truncation trick) in one pass, whatever the threshold."""
    z = z.clone()
    outside = z.abs() > threshold
    count = int(outside.sum())
    if count:
        low = torch.special.ndtr(torch.tensor(-threshold, dtype=torch.float64))
        u = torch.rand(count, generator=generator, dtype=torch.float64)
        redrawn = torch.special.ndtri(low + u * (1 - 2 * low)).clamp(-threshold, threshold)
        z[outside] = redrawn.to(z.dtype)
    return z


class Sampler:
    """How a recipe's model is sampled: latents drawn from a torch generator, labels when
    conditional, and the module whose weights are the model (the EMA copy when there is one).
    Evaluation, sample pictures and the best checkpoint all go through it."""

    translates = False  # True: the bank holds source images and samples are their images

    def __init__(self, module: torch.nn.Module, latent_dim: int, conditional: bool) -> None:
        self.module, self.latent_dim, self.conditional = module, latent_dim, conditional

    def draw(
        self, count: int, generator: torch.Generator, truncation: float | None = None
    ) -> torch.Tensor:
        """``count`` latents from ``generator``: a standard normal, or with ``truncation`` one
        truncated at ±truncation by redrawing every entry beyond it (BigGAN's truncation
        trick), in a fixed order so the draw is reproducible."""
        z = torch.randn(count, self.latent_dim, generator=generator)
        return z if truncation is None else truncate(z, truncation, generator)

    def bank(
        self, count: int, generator: torch.Generator, num_classes: int, selection: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """What evaluation feeds the model: ``count`` latents and class labels drawn from
        ``generator`` (a translator's sampler gives held-out source images instead)."""
        z = self.draw(count, generator)
        return z, torch.randint(num_classes, (count,), generator=generator)

    def targets(self, count: int, selection: bool = False) -> torch.Tensor | None:
        """The true output for each of the first ``count`` bank entries, when known (paired
        and synthetic translation tasks); None for latents."""
        return None

    def __call__(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self.module(z, labels if self.conditional else None)

    def columns(self, bank: torch.Tensor, samples: torch.Tensor) -> list[torch.Tensor]:
        """What a sample picture shows for each bank entry, side by side: the sample alone
        here; a translator's source, output and true target; a coupled model's pair."""
        return [samples]

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)


class TranslationSampler(Sampler):
    """A translator's sampler: its bank is the held-out source images (all of them, or the
    first ``count``) with their labels, their known targets where the dataset has them; the
    selection bank is the training sources. ``inverse`` is the map back (CycleGAN's F), used
    by the cycle metrics."""

    translates = True

    def __init__(self, module: torch.nn.Module, data, inverse: torch.nn.Module | None = None):
        super().__init__(module, 0, conditional=False)
        self.data, self.inverse = data, inverse

    def _split(self, selection: bool) -> str:
        return "source_train" if selection else "source_test"

    def bank(self, count, generator, num_classes, selection=False):
        split = self._split(selection)
        return self.data.extra[split][:count], self.data.extra[f"{split}_y"][:count]

    def targets(self, count: int, selection: bool = False) -> torch.Tensor | None:
        targets = None if selection else self.data.extra.get("source_test_target")
        return None if targets is None else targets[:count]

    def draw(self, count, generator, truncation=None):
        raise TypeError("a translator is sampled on source images, not latents")

    def __call__(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.module(x)

    def columns(self, bank: torch.Tensor, samples: torch.Tensor) -> list[torch.Tensor]:
        targets = self.targets(len(samples))
        return [bank, samples] + ([] if targets is None else [targets])


def parts_state(parts: dict) -> dict:
    """Each named part's state: ``state_dict()`` of nets and optimisers, ``get_state()`` of
    torch generators."""
    return {
        name: part.get_state() if isinstance(part, torch.Generator) else part.state_dict()
        for name, part in parts.items()
    }


def load_parts(parts: dict, state: dict) -> None:
    """Restore what ``parts_state`` saved, part by part."""
    for name, part in parts.items():
        if isinstance(part, torch.Generator):
            part.set_state(state[name])
        else:
            part.load_state_dict(state[name])


class PartsState:
    """For recipes whose checkpoint is their named ``_parts()`` (nets, optimisers, torch
    generators) and a step count ``steps_done``; extend with ``super()`` for more."""

    steps_done: int

    def _parts(self) -> dict:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {**parts_state(self._parts()), "steps": self.steps_done}

    def load_state_dict(self, state: dict) -> None:
        load_parts(self._parts(), state)
        self.steps_done = state["steps"]


class Recipe:
    """The unit of training. Subclasses set ``name`` and implement the methods below."""

    name: ClassVar[str] = ""

    def __init__(self, spec, data, device: torch.device, seed: int) -> None:
        self.spec, self.data, self.device, self.seed = spec, data, device, seed

    def examples_per_step(self) -> int:
        raise NotImplementedError

    def steps_for(self, examples: float) -> int:
        """Steps that consume ``examples`` real examples (the last may pass them), at least 1."""
        return max(1, math.ceil(examples / self.examples_per_step()))

    def examples_before(self, steps: int) -> int:
        """Real examples the first ``steps`` steps consume."""
        return steps * self.examples_per_step()

    def check(self, batches: Batches) -> None:
        """Raise ``ValueError`` before training when the data cannot feed a step."""

    def plan(self, total_steps: int) -> None:
        """Told, before training, how many steps the budget allows (for schedules)."""

    def step(self, batches: Batches) -> StepResult:
        raise NotImplementedError

    def sampler(self) -> Sampler:
        raise NotImplementedError

    def counters(self) -> dict[str, int]:
        return {}

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError
