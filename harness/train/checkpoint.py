"""Checkpoints: written atomically, loaded with ``weights_only=True``."""

from __future__ import annotations

import os
from pathlib import Path


def save_checkpoint(state: dict, path: Path) -> None:
    """Write to a temporary file, fsync, then rename: a kill never leaves a torn checkpoint."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")  # one per writer
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk or a kill: no partial file stays behind
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
