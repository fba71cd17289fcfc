"""A user's own image-translation data, in the two layouts pix2pix and CycleGAN publish theirs:

- **paired** (pix2pix: facades, maps, edges2shoes): ``root/<split>/<image>``, each file the
  source and the target side by side, source (A) on the left half and target (B) on the
  right; the splits are ``train`` and ``test`` (``val`` where a dataset has no ``test``);
- **unpaired** (CycleGAN: horse2zebra, apple2orange): ``root/trainA``, ``root/trainB``,
  ``root/testA``, ``root/testB``, one image per file, no pairing between A and B.

Images are read with PIL (torchvision's own loader), in file-name order, converted to 1 or 3
channels, resized to ``resolution`` and scaled to [-1, 1] like every harness image. Errors
name the folder or file and what was expected.

Registered as the datasets ``paired_folder`` and ``unpaired_folder`` (the layout of
``harness.data.translation``'s tasks: target domain as ``train_x``/``test_x``, the source
domain and the training streams in ``extra``). Folder images carry no labels (all 0).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from harness.data import DatasetInfo, LoadedData
from harness.data.folders import open_image, root_missing, to_chw
from harness.data.transforms import resize, to_unit_range

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
UNPAIRED_FOLDERS = ("trainA", "trainB", "testA", "testB")


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(f"{folder} {state}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS)
    if not files:
        raise FileNotFoundError(f"{folder} holds no images ({', '.join(EXTENSIONS)})")
    return files


def _read(path: Path, channels: int) -> torch.Tensor:
    """One image as a 1×C×H×W uint8 tensor."""
    from PIL import UnidentifiedImageError

    try:
        image = open_image(str(path), "L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path}: not a readable image ({error})") from None
    return to_chw(image).unsqueeze(0)


def _scaled(image: torch.Tensor, resolution: int) -> torch.Tensor:
    return resize(to_unit_range(image, 255.0), resolution)


def paired_folder(
    root: str | os.PathLike, resolution: int, channels: int = 3
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"train": (A, B), "test": (A, B)}``: source and target halves of every side-by-side
    image, N×C×resolution×resolution each (``val`` stands in for a missing ``test``)."""
    root = Path(os.path.expanduser(root))
    if not root.is_dir():
        raise FileNotFoundError(f"paired translation root {root} does not exist")
    out = {}
    for split in ("train", "test"):
        folder = root / split
        if split == "test" and not folder.is_dir() and (root / "val").is_dir():
            folder = root / "val"
        sources, targets = [], []
        for path in _images(folder):
            image = _read(path, channels)
            width = image.shape[-1]
            if width < 2:
                raise ValueError(f"{path}: too narrow to hold a source and a target side by side")
            half = width // 2
            sources.append(_scaled(image[..., :half], resolution))
            targets.append(_scaled(image[..., half : 2 * half], resolution))
        out[split] = (torch.cat(sources), torch.cat(targets))
    return out


def unpaired_folder(
    root: str | os.PathLike, resolution: int, channels: int = 3
) -> dict[str, torch.Tensor]:
    """``{"trainA": ..., "trainB": ..., "testA": ..., "testB": ...}``, each N×C×R×R."""
    root = Path(os.path.expanduser(root))
    if not root.is_dir():
        raise FileNotFoundError(f"unpaired translation root {root} does not exist")
    return {
        name: torch.cat([_scaled(_read(p, channels), resolution) for p in _images(root / name)])
        for name in UNPAIRED_FOLDERS
    }


def _loaded(name, target_train, target_test, extra) -> LoadedData:
    info = DatasetInfo(
        name,
        "images",
        tuple(target_train.shape[1:]),
        1,
        source_shape=tuple(extra["source_train"].shape[1:]),
    )
    zeros = torch.zeros(len(target_train), dtype=torch.long)
    return LoadedData(
        target_train,
        zeros,
        target_test,
        torch.zeros(len(target_test), dtype=torch.long),
        info,
        extra,
    )


def paired_dataset(params) -> LoadedData:
    """``paired_folder``: the side-by-side layout as a paired translation dataset."""
    data = paired_folder(params.root, params.resolution, params.channels)
    (source, target), (test_source, test_target) = data["train"], data["test"]
    labels = torch.zeros(len(source), dtype=torch.long)
    extra = {
        "source_train": source,
        "source_train_y": labels,
        "source_train_target": target,
        "source_test": test_source,
        "source_test_y": torch.zeros(len(test_source), dtype=torch.long),
        "source_test_target": test_target,
        "task": Path(params.root).name,
        "streams": {"real": (target, labels), "pairs": (source, target, labels)},
    }
    return _loaded("paired_folder", target, test_target, extra)


def unpaired_dataset(params) -> LoadedData:
    """``unpaired_folder``: trainA/trainB/testA/testB as an unpaired translation dataset."""
    data = unpaired_folder(params.root, params.resolution, params.channels)
    a, b = data["trainA"], data["trainB"]
    extra = {
        "source_train": a,
        "source_train_y": torch.zeros(len(a), dtype=torch.long),
        "source_test": data["testA"],
        "source_test_y": torch.zeros(len(data["testA"]), dtype=torch.long),
        "source_train_target": None,
        "source_test_target": None,
        "target_test_source": None,
        "task": Path(params.root).name,
        "streams": {
            "real": (b, torch.zeros(len(b), dtype=torch.long)),
            "A": (a, torch.zeros(len(a), dtype=torch.long)),
            "B": (b, torch.zeros(len(b), dtype=torch.long)),
        },
    }
    return _loaded("unpaired_folder", b, data["testB"], extra)


__all__ = ["paired_dataset", "paired_folder", "root_missing", "unpaired_dataset", "unpaired_folder"]
