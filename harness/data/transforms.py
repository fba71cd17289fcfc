"""Image tensor helpers shared by the image datasets."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def to_unit_range(images: torch.Tensor, max_value: float) -> torch.Tensor:
    """Scale pixel values from [0, max_value] to [-1, 1] as float32 NCHW."""
    return images.float().div(max_value).mul(2).sub(1)


def resize(images: torch.Tensor, resolution: int | None) -> torch.Tensor:
    """Resize NCHW images to a square resolution (antialiased bilinear); None keeps them."""
    if resolution is None or images.shape[-1] == resolution:
        return images
    out = F.interpolate(
        images,
        size=(resolution, resolution),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    return out.clamp(-1, 1)


def split(n: int, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic train/test index split."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = int(round(n * test_fraction))
    return order[n_test:], order[:n_test]
