"""Separate, reproducible seed streams derived from a cell's seed."""

from __future__ import annotations

import hashlib
import os


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for one named stream ("init", "data", "latent") of a cell seed."""
    digest = hashlib.sha256(f"ganbench:{seed}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def cpu_threads() -> int:
    """Torch threads for CPU work: ``GANBENCH_THREADS``, else 1.

    CPU results depend on the thread count (reductions split differently), so a fixed count
    makes a cell give the same numbers in ``run``, in a study with any number of workers, and
    on machines with different core counts; small GAN cells gain nothing from more threads."""
    value = os.environ.get("GANBENCH_THREADS", "1")
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"GANBENCH_THREADS={value!r}: must be a whole number >= 1")
    return threads


def configure_determinism(device) -> None:
    """Deterministic algorithms on and a fixed CPU thread count; on CUDA also the cuBLAS
    workspace and no cuDNN autotuning."""
    import torch

    if torch.get_num_threads() != cpu_threads():
        torch.set_num_threads(cpu_threads())
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
