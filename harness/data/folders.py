"""A user's own images, laid out as root/<class>/<image>, through torchvision's ImageFolder."""

from __future__ import annotations

import os

import torch

from harness.data import DatasetInfo, ImageFolderParams, LoadedData
from harness.data.transforms import resize, split, to_unit_range


def root_missing(params: ImageFolderParams) -> str | None:
    """Why the folder cannot be read (None when its root is a folder)."""
    root = os.path.expanduser(params.root)
    if not os.path.isdir(root):
        return f"{root} is not a folder" if os.path.exists(root) else f"{root} does not exist"
    return None


def image_folder(params: ImageFolderParams) -> LoadedData:
    """Load every image, resize it to the resolution, and split deterministically."""
    from torchvision.datasets import ImageFolder

    root = os.path.expanduser(params.root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image_folder root {root} does not exist")
    mode = "L" if params.channels == 1 else "RGB"
    folder = ImageFolder(root, loader=lambda path: open_image(path, mode))
    images, labels = [], []
    for image, label in folder:
        array = to_chw(image)
        images.append(resize(to_unit_range(array.unsqueeze(0), 255.0), params.resolution))
        labels.append(label)
    x, y = torch.cat(images), torch.tensor(labels, dtype=torch.long)
    train, test = split(len(x), params.test_fraction, params.split_seed)
    info = DatasetInfo("image_folder", "images", tuple(x.shape[1:]), len(folder.classes))
    return LoadedData(x[train], y[train], x[test], y[test], info)


def to_chw(image) -> torch.Tensor:
    """A PIL image as a C×H×W uint8 tensor (one channel for "L", three for "RGB")."""
    import numpy as np

    array = torch.from_numpy(np.array(image, dtype=np.uint8))
    return array.unsqueeze(0) if array.dim() == 2 else array.permute(2, 0, 1)


def open_image(path: str, mode: str):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert(mode)
