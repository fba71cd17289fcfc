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

Registered as datasets (``digit_pairs``, ``digit_unpaired``), a task is a ``LoadedData``
whose ``train_x``/``test_x`` are the *target* domain (what a translator produces, so FID, KID
and the real-data row compare translated images with real targets) and whose ``extra`` holds
the source domain (``source_train``, ``source_test`` and their labels), the known target of
each test source (``source_test_target``) and the training streams a recipe draws from:
``pairs`` (source, target, label; aligned) for paired tasks, ``A`` and ``B`` (independent) for
unpaired ones, and ``real`` (the target domain) always. Unpaired halves are split 700 train /
the rest test each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from harness.data import DatasetInfo, LoadedData

PAIRED_TRAIN = 1397  # the rest (400) is the paired test split
UNPAIRED_TRAIN = 700  # per half; the rest of each half (198 and 199) is its test split


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 sklearn digits as (N, 8, 8) float64 images in [0, 1] and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images / 16.0, bunch.target


def lowres(x: np.ndarray) -> np.ndarray:
    n, h, w = x.shape
    pooled = x.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4))
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


# -- registered datasets ------------------------------------------------------------------


def _tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W) in [0, 1] → (N, 1, H, W) float32 in [-1, 1]."""
    return torch.as_tensor(images, dtype=torch.float32).unsqueeze(1).mul(2).sub(1)


def _mapped(name: str, images: np.ndarray) -> np.ndarray:
    return images if name == "digit" else MAPS[name](images)


def _loaded(name, target_train, train_y, target_test, test_y, extra) -> LoadedData:
    info = DatasetInfo(
        name,
        "images",
        tuple(target_train.shape[1:]),
        10,
        source_shape=tuple(extra["source_train"].shape[1:]),
    )
    return LoadedData(target_train, train_y, target_test, test_y, info, extra)


def _digits_at(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """The digits at ``resolution`` px (bilinear, antialiased), values in [0, 1]."""
    from harness.data.transforms import resize

    images, labels = digits()
    if resolution != images.shape[-1]:
        scaled = resize(torch.as_tensor(images).unsqueeze(1).mul(2).sub(1), resolution)
        images = scaled.squeeze(1).add(1).div(2).clamp(0, 1).numpy()
    return images, labels


def digit_pairs(params) -> LoadedData:
    """A paired task over the fixed 1,397 / 400 split: ``source(x) → target(x)``."""
    images, labels = _digits_at(params.resolution)
    order = permutation(len(images))
    train, test = order[:PAIRED_TRAIN], order[PAIRED_TRAIN:]
    source = _tensor(_mapped(params.source, images))
    target = _tensor(_mapped(params.target, images))
    y = torch.as_tensor(labels, dtype=torch.long)
    extra = {
        "source_train": source[train],
        "source_train_y": y[train],
        "source_train_target": target[train],
        "source_test": source[test],
        "source_test_y": y[test],
        "source_test_target": target[test],
        "task": f"{params.source}2{params.target}",
        "streams": {
            "real": (target[train], y[train]),
            "pairs": (source[train], target[train], y[train]),
        },
    }
    return _loaded("digit_pairs", target[train], y[train], target[test], y[test], extra)


def digit_unpaired(params) -> LoadedData:
    """An unpaired task: domain A = ``source`` of the first half's digits, domain B =
    ``target`` of the second half's; each half split 700 train / the rest test. The known
    target of a test source is ``target`` of its own digit (and of a B test image,
    ``source`` of its digit), so unpaired models are scored as if paired."""
    images, labels = _digits_at(params.resolution)
    half_a, half_b = unpaired_halves(len(images))
    y = torch.as_tensor(labels, dtype=torch.long)
    a_train, a_test = half_a[:UNPAIRED_TRAIN], half_a[UNPAIRED_TRAIN:]
    b_train, b_test = half_b[:UNPAIRED_TRAIN], half_b[UNPAIRED_TRAIN:]
    source = _tensor(_mapped(params.source, images))
    target = _tensor(_mapped(params.target, images))
    extra = {
        "source_train": source[a_train],
        "source_train_y": y[a_train],
        "source_train_target": target[a_train],  # known, never a training stream
        "source_test": source[a_test],
        "source_test_y": y[a_test],
        "source_test_target": target[a_test],
        "target_test_source": source[b_test],  # the known inverse map of the B test images
        "task": f"{params.source}2{params.target}",
        # The map from a domain-A image to its domain-B counterpart, when A is the digit.
        "pair_map": params.target if params.source == "digit" else None,
        "streams": {
            "real": (target[b_train], y[b_train]),
            "A": (source[a_train], y[a_train]),
            "B": (target[b_train], y[b_train]),
        },
    }
    return _loaded("digit_unpaired", target[b_train], y[b_train], target[b_test], y[b_test], extra)
