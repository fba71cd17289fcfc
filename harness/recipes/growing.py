"""ProGAN's growth schedule (Karras et al. 2018, §2 and §A.1), as a function of the number of
real images shown, so a run resumed from any checkpoint (in the middle of a fade included)
continues it exactly. The ProGAN recipe and StyleGAN's optional growing
(``harness.recipes.progressive``) read it every step; see ``harness.variants.nets.karras`` for the layers.

Training starts at ``start`` px and stabilises there for ``stabilise_images``; each doubling
then fades the new resolution in over ``fade_images`` (α rising linearly from 0 to 1) and
stabilises it for ``stabilise_images`` (α = 1); the final resolution is kept to the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GrowthSchedule:
    start: int
    final: int
    stabilise_images: int
    fade_images: int

    def __post_init__(self) -> None:
        for name in ("start", "final"):
            value = getattr(self, name)
            if value < 1 or value & (value - 1):
                raise ValueError(f"{name} resolution must be a power of two, not {value}")
        if self.final < self.start:
            raise ValueError(f"final resolution {self.final} is below the start {self.start}")
        if self.stabilise_images < 0 or self.fade_images <= 0:
            raise ValueError("stabilise_images must be >= 0 and fade_images > 0")

    @property
    def growths(self) -> int:
        return int(math.log2(self.final // self.start))

    def at(self, images: int) -> tuple[int, float]:
        """(resolution, α) after ``images`` real images: α < 1 while that resolution fades in."""
        period = self.stabilise_images + self.fade_images
        phase, into = divmod(images, period)
        if phase >= self.growths:  # every growth done: the final resolution, stable
            return self.final, 1.0
        if into < self.stabilise_images:
            return self.start << phase, 1.0
        return self.start << (phase + 1), (into - self.stabilise_images) / self.fade_images

    def growth_images(self) -> list[int]:
        """Where each new resolution appears (its fade starts): the optimiser-reset points."""
        period = self.stabilise_images + self.fade_images
        return [phase * period + self.stabilise_images for phase in range(self.growths)]
