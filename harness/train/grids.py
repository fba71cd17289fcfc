"""Sample pictures: an image grid for image datasets, a scatter plot for 2-D points."""

from __future__ import annotations

from pathlib import Path

import torch


def save_samples(samples: torch.Tensor, data, path: Path) -> Path:
    """Write the picture of ``samples`` for this dataset kind to ``path`` (PNG)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if data.info.kind == "points":
        _scatter(samples, data, path)
    else:
        _grid(samples[:64], path)
    return path


def _grid(images: torch.Tensor, path: Path) -> None:
    from torchvision.utils import make_grid, save_image

    scale = max(1, 32 // images.shape[-1])
    if scale > 1:
        images = torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")
    grid = make_grid(images.clamp(-1, 1), nrow=8, normalize=True, value_range=(-1, 1))
    save_image(grid, path)


def _scatter(points: torch.Tensor, data, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4, 4), dpi=80)
    real = data.test_x[:1000]
    axes.scatter(real[:, 0], real[:, 1], s=4, c="lightgrey", label="real")
    fake = points[:1000]
    axes.scatter(fake[:, 0], fake[:, 1], s=4, c="tab:blue", label="generated")
    limit = float(data.test_x.abs().max()) * 1.4
    axes.set_xlim(-limit, limit)
    axes.set_ylim(-limit, limit)
    axes.set_aspect("equal")
    axes.legend(loc="upper right", fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
