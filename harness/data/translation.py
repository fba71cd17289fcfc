"""Offline image-translation tasks from the 8×8 digits (variant-zoo reference §8.3, §9.2).

Every task maps a digit image ``x`` (values in [0, 1]) through a known map ``T``, so models
trained without pairs can still be scored against the true target ``T(x)``:

- ``lowres``: 2×2 average-pool to 4×4, then nearest upsampling back to 8×8 (paired
  lowres→digit: genuinely ambiguous, many digits share one 4×4 average);
- ``edges``: grey dilation with a 3×3 window minus the image (paired edges→digit);
- ``thick``: grey dilation with a 2×2 window (unpaired digit↔thick, a local stroke change);
- ``inverted``: ``1 − x`` (unpaired digit↔inverted, a pointwise flip);
- ``rot90``: a quarter turn (unpaired digit↔rot90, the documented negative control: a
  small-receptive-field G cannot rotate).

Splits are a fixed permutation of the 1,797 digits (``RandomState(0)``): paired tasks use the
first 1,397 as training and the last 400 as test; unpaired and two-domain tasks use disjoint
halves, so no digit appears in both domains.

This module is the data half of the translation tasks (issue 12). The recipes that train on
them (Pix2Pix, CycleGAN, CoGAN) are still to come.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PAIRED_TRAIN = 1397  # the rest (400) is the paired test split


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 sklearn digits as (N, 8, 8) float64 images in [0, 1] and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images / 16.0, bunch.target


def lowres(x: np.ndarray) -> np.ndarray:
    pooled = x.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4))
    return pooled.repeat(2, axis=1).repeat(2, axis=2)


def _dilate(x: np.ndarray, size: int) -> np.ndarray:
    from scipy.ndimage import grey_dilation

    return np.stack([grey_dilation(image, size=(size, size)) for image in x])


def edges(x: np.ndarray) -> np.ndarray:
    return _dilate(x, 3) - x


def thick(x: np.ndarray) -> np.ndarray:
    return _dilate(x, 2)


def inverted(x: np.ndarray) -> np.ndarray:
    return 1.0 - x


def rot90(x: np.ndarray) -> np.ndarray:
    return np.rot90(x, 1, axes=(1, 2)).copy()


MAPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "lowres": lowres,
    "edges": edges,
    "thick": thick,
    "inverted": inverted,
    "rot90": rot90,
}


@dataclass(frozen=True)
class PairedTask:
    """Source and target images of a paired task, split into training and test."""

    name: str
    train_source: np.ndarray
    train_target: np.ndarray
    test_source: np.ndarray
    test_target: np.ndarray
    train_labels: np.ndarray
    test_labels: np.ndarray


def permutation(count: int) -> np.ndarray:
    return np.random.RandomState(0).permutation(count)


def paired_task(source_map: str | None, target_map: str | None) -> PairedTask:
    """``T_source(x) → T_target(x)`` over the paired split (``None``: the digit itself):
    ``paired_task("lowres", None)`` is lowres→digit, ``paired_task(None, "thick")`` is
    digit→thick scored against its known target."""
    for name in (source_map, target_map):
        if name is not None and name not in MAPS:
            raise ValueError(f"unknown map {name!r}; known: {', '.join(MAPS)}")
    images, labels = digits()
    order = permutation(len(images))
    train, test = order[:PAIRED_TRAIN], order[PAIRED_TRAIN:]
    source = MAPS[source_map](images) if source_map else images
    target = MAPS[target_map](images) if target_map else images
    return PairedTask(
        f"{source_map or 'digit'}2{target_map or 'digit'}",
        source[train],
        target[train],
        source[test],
        target[test],
        labels[train],
        labels[test],
    )


def unpaired_halves(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the two disjoint halves (domain A, domain B) of the fixed permutation."""
    order = permutation(count)
    return order[: count // 2], order[count // 2 :]
