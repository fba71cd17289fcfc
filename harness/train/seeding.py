"""Separate, reproducible seed streams derived from a cell's seed."""

from __future__ import annotations

import hashlib
import os


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for one named stream ("init", "data", "latent") of a cell seed."""
    digest = hashlib.sha256(f"ganbench:{seed}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def configure_determinism(device) -> None:
    """Deterministic algorithms on; on CUDA also cuBLAS workspace and no cuDNN autotuning."""
    import torch

    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
