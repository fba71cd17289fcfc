"""Sample pictures: an image grid for image datasets, a scatter plot for 2-D points, a text
file of sample sequences (one per line, tokens as the dataset's words, else ids) for
sequences. A translator's picture shows each source, its translation and the true target side
by side (a grey column between examples); a coupled model's shows each pair."""

from __future__ import annotations

from pathlib import Path

import torch

GRID_WIDTH = 8  # images per row of a plain grid


def save_samples(columns: list[torch.Tensor], data, path: Path) -> Path:
    """Write the picture of ``columns`` (``Sampler.columns``: the samples alone, or per
    example a few images to show side by side) for this dataset kind to ``path`` (PNG; for
    sequences the same name with ``.txt``); returns the file written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if data.info.kind == "sequences":
        words, eos = data.extra.get("words"), data.extra.get("eos")
        lines = []
        for row in columns[0].tolist():
            row = row[: row.index(eos)] if eos in row else row
            lines.append(" ".join(words[t] if words else str(t) for t in row))
        path = path.with_suffix(".txt")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
    if data.info.kind == "points":
        _scatter(columns[0], data, path)
    else:
        _grid(_interleave(columns), GRID_WIDTH if len(columns) == 1 else _row(len(columns)), path)
    return path


def _row(width: int) -> int:
    """Images per row for examples of ``width`` images: as many examples as fit in about
    ``GRID_WIDTH`` + 1 images, each followed by a separator."""
    return max(1, (GRID_WIDTH + 1) // (width + 1)) * (width + 1)


def _interleave(columns: list[torch.Tensor]) -> torch.Tensor:
    """One image batch: example i's images in column order, then a grey separator (when
    there are several columns). Images are brought to a common size and channel count."""
    if len(columns) == 1:
        return columns[0][: GRID_WIDTH * GRID_WIDTH]
    size = max(c.shape[-1] for c in columns)
    channels = max(c.shape[1] for c in columns)
    shaped = []
    for images in columns:
        if images.shape[-1] != size:
            images = torch.nn.functional.interpolate(images, size=(size, size), mode="nearest")
        shaped.append(images.expand(-1, channels, -1, -1) if images.shape[1] == 1 else images)
    examples = min(len(c) for c in shaped)
    examples = min(examples, (GRID_WIDTH * GRID_WIDTH) // (len(columns) + 1))
    separator = torch.zeros(1, channels, size, size)
    tiles = []
    for i in range(examples):
        tiles += [c[i : i + 1] for c in shaped] + [separator]
    return torch.cat(tiles)


def _grid(images: torch.Tensor, per_row: int, path: Path) -> None:
    from torchvision.utils import make_grid, save_image

    scale = max(1, 32 // images.shape[-1])
    if scale > 1:
        images = torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")
    grid = make_grid(images.clamp(-1, 1), nrow=per_row, normalize=True, value_range=(-1, 1))
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
