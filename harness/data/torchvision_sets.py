"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision's own loaders, from a local root.

Nothing is downloaded unless the suite sets ``download = true``; a missing dataset gives one
error naming the root and the option.
"""

from __future__ import annotations

import os

import torch

from harness.data import DatasetInfo, LoadedData, TorchvisionParams
from harness.data.transforms import resize, to_unit_range


def _load(cls_name: str, name: str, params: TorchvisionParams) -> LoadedData:
    import torchvision.datasets as tv

    root = os.path.expanduser(params.root)
    cls = getattr(tv, cls_name)
    try:
        train = cls(root, train=True, download=params.download)
        test = cls(root, train=False, download=params.download)
    except RuntimeError as error:
        raise FileNotFoundError(
            f"dataset '{name}' not found under {root} ({error}); put the files there or set "
            f"download = true in the suite's dataset params"
        ) from None

    def tensors(ds, limit=None):
        data = torch.as_tensor(ds.data)
        data = data.unsqueeze(1) if data.dim() == 3 else data.permute(0, 3, 1, 2)
        labels = torch.as_tensor(ds.targets, dtype=torch.long)
        if limit is not None:
            data, labels = data[:limit], labels[:limit]
        return resize(to_unit_range(data, 255.0), params.resolution), labels

    train_x, train_y = tensors(train, params.limit)
    test_x, test_y = tensors(test)
    info = DatasetInfo(name, "images", tuple(train_x.shape[1:]), 10)
    return LoadedData(train_x, train_y, test_x, test_y, info)


def mnist(params: TorchvisionParams) -> LoadedData:
    """MNIST (LeCun et al. 1998)."""
    return _load("MNIST", "mnist", params)


def fashion_mnist(params: TorchvisionParams) -> LoadedData:
    """Fashion-MNIST (Xiao et al. 2017)."""
    return _load("FashionMNIST", "fashion_mnist", params)


def cifar10(params: TorchvisionParams) -> LoadedData:
    """CIFAR-10 (Krizhevsky 2009)."""
    return _load("CIFAR10", "cifar10", params)
