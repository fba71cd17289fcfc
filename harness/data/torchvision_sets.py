"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision's own loaders, from a local root.

Nothing is downloaded unless the suite sets ``download = true``; a missing dataset gives one
error naming the root and the option.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from harness.data import DatasetInfo, LoadedData, StackedMnistParams, TorchvisionParams
from harness.data.transforms import resize, to_unit_range


def _idx_files(folder: str) -> tuple[str, ...]:
    return tuple(
        f"{folder}/raw/{split}-{kind}"
        for split in ("train", "t10k")
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
    )


# The files torchvision's loaders read under the root: what a missing dataset is told by.
FILES = {
    "MNIST": _idx_files("MNIST"),
    "FashionMNIST": _idx_files("FashionMNIST"),
    "CIFAR10": tuple(
        f"cifar-10-batches-py/{b}"
        for b in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
    ),
}


def _missing(cls_name: str, params: TorchvisionParams) -> str | None:
    """Why the dataset cannot be read from its root (None when it can, or may be downloaded)."""
    root = os.path.expanduser(params.root)
    absent = [f for f in FILES[cls_name] if not os.path.isfile(os.path.join(root, f))]
    if absent and not params.download:
        return f"{cls_name} not found under {root} (no {absent[0]})"
    return None


def mnist_missing(params: TorchvisionParams) -> str | None:
    return _missing("MNIST", params)


def fashion_mnist_missing(params: TorchvisionParams) -> str | None:
    return _missing("FashionMNIST", params)


def cifar10_missing(params: TorchvisionParams) -> str | None:
    return _missing("CIFAR10", params)


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
        images = resize(to_unit_range(data, 255.0), params.resolution)
        if params.pad:  # ProGAN's MNIST-RGB: 28-px digits padded by 2 to 32 px
            images = F.pad(images, (params.pad,) * 4, value=-1.0)
        return images, labels

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


def stacked_mnist(params: StackedMnistParams) -> LoadedData:
    """Stacked MNIST (Metz et al. 2017; VEEGAN's and PacGAN's protocol): three random MNIST
    digits as the RGB channels of one 28×28 image, 1,000 modes (label = 100·d0 + 10·d1 + d2).

    Training stacks are drawn with replacement from the training digits and held-out stacks
    from the test digits (PacGAN's code draws both from all 70,000 digits; keeping them apart
    keeps the held-out split held out)."""
    single = _load("MNIST", "mnist", params)
    generator = torch.Generator().manual_seed(params.seed)

    def stack(images, labels, n):
        picks = torch.randint(len(images), (n, 3), generator=generator)
        digits = labels[picks]
        return images[picks].squeeze(2), digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]

    train_x, train_y = stack(single.train_x, single.train_y, params.size)
    test_x, test_y = stack(single.test_x, single.test_y, params.test_size)
    info = DatasetInfo(
        "stacked_mnist", "images", tuple(train_x.shape[1:]), 1000, label_factors=(10, 10, 10)
    )
    return LoadedData(train_x, train_y, test_x, test_y, info)
