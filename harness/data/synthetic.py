"""2-D Gaussian mixtures used to measure mode collapse (Srivastava et al. 2017, VEEGAN)."""

from __future__ import annotations

import math

import torch

from harness.data import DatasetInfo, GridParams, LoadedData, RingParams


def _mixture(name, centres, std, size, test_size, seed) -> LoadedData:
    """Sample a uniform mixture of isotropic Gaussians with a generator seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    means = torch.tensor(centres, dtype=torch.float32)

    def sample(n):
        labels = torch.randint(len(centres), (n,), generator=generator)
        points = means[labels] + std * torch.randn(n, 2, generator=generator)
        return points, labels

    train_x, train_y = sample(size)
    test_x, test_y = sample(test_size)
    info = DatasetInfo(name, "points", (2,), len(centres), tuple(map(tuple, centres)), std)
    return LoadedData(train_x, train_y, test_x, test_y, info)


def ring_centres(radius: float, modes: int = 8) -> list[tuple[float, float]]:
    """Centres at angles 2πk/modes for k = 0..modes-1 (no repeated 0 and 2π)."""
    angles = [2 * math.pi * k / modes for k in range(modes)]
    return [(radius * math.cos(a), radius * math.sin(a)) for a in angles]


def grid_centres() -> list[tuple[float, float]]:
    values = (-4.0, -2.0, 0.0, 2.0, 4.0)
    return [(x, y) for x in values for y in values]


def ring8(params: RingParams) -> LoadedData:
    """8 Gaussians on a circle of the given radius."""
    return _mixture(
        "ring8",
        ring_centres(params.radius),
        params.std,
        params.size,
        params.test_size,
        params.seed,
    )


def grid25(params: GridParams) -> LoadedData:
    """25 Gaussians on the 5×5 grid {-4,-2,0,2,4}²."""
    return _mixture(
        "grid25", grid_centres(), params.std, params.size, params.test_size, params.seed
    )
