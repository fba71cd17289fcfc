"""scikit-learn's 8×8 handwritten digits and the stacked (3-channel, 1,000-mode) variant.

Stacked MNIST (Metz et al. 2017; Srivastava et al. 2017) stacks three digits as RGB channels;
here the digits come from scikit-learn's bundled set so the suite runs offline.
"""

from __future__ import annotations

import torch

from harness.data import DatasetInfo, DigitsParams, LoadedData, StackedDigitsParams
from harness.data.transforms import resize, split, to_unit_range


def _digit_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1)
    return to_unit_range(images, 16.0), torch.as_tensor(bunch.target, dtype=torch.long)


def digits(params: DigitsParams) -> LoadedData:
    """The 1,797 digits, split deterministically into train and test."""
    images, labels = _digit_tensors()
    images = resize(images, params.resolution)
    train, test = split(len(images), params.test_fraction, params.split_seed)
    info = DatasetInfo("digits", "images", tuple(images.shape[1:]), 10)
    return LoadedData(images[train], labels[train], images[test], labels[test], info)


def stacked_digits(params: StackedDigitsParams) -> LoadedData:
    """Triples of digits as RGB channels; training triples come from the training digits only."""
    images, labels = _digit_tensors()
    images = resize(images, params.resolution)
    train, test = split(len(images), params.test_fraction, params.seed)
    generator = torch.Generator().manual_seed(params.seed)

    def stack(pool: torch.Tensor, n: int):
        picks = pool[torch.randint(len(pool), (n, 3), generator=generator)]
        x = images[picks].squeeze(2)  # n × 3 × H × W
        digit = labels[picks]
        return x, digit[:, 0] * 100 + digit[:, 1] * 10 + digit[:, 2]

    train_x, train_y = stack(train, params.size)
    test_x, test_y = stack(test, params.test_size)
    info = DatasetInfo(
        "stacked_digits", "images", tuple(train_x.shape[1:]), 1000, label_factors=(10, 10, 10)
    )
    return LoadedData(train_x, train_y, test_x, test_y, info)
