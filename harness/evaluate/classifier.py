"""Domain classifiers: small CNNs trained deterministically by the harness, used as
torch-fidelity feature extractors for offline suites (classifier-IS/FID/KID/PR).

A classifier is cached under a hash of its training data and recipe, with its held-out
accuracy. Scores computed with it carry the ``_cls`` suffix and an ``eval.extractor`` tag,
so they are never mistaken for Inception scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

# Changing the recipe changes the hash, so old cached classifiers are not reused.
# Training stops at ``epochs`` or ``max_steps``, whichever comes first (MNIST-sized sets).
RECIPE = {
    "version": 1,
    "width": 32,
    "epochs": 40,
    "max_steps": 3000,
    "batch_size": 64,
    "lr": 2e-3,
    "seed": 0,
}


class SmallCNN(nn.Module):
    """Three conv layers and a linear head; ``forward`` returns (features, logits)."""

    def __init__(self, in_channels: int, num_classes: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return features, self.head(features)


def data_hash(x: torch.Tensor, y: torch.Tensor) -> str:
    digest = hashlib.sha256()
    digest.update(x.contiguous().numpy().tobytes())
    digest.update(y.contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int) -> SmallCNN:
    """Train on (x in [-1, 1], y) with a fixed seed, on CPU, with deterministic algorithms."""
    generator = torch.Generator().manual_seed(RECIPE["seed"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RECIPE["seed"])
        model = SmallCNN(x.shape[1], num_classes, RECIPE["width"])
    optimizer = torch.optim.Adam(model.parameters(), RECIPE["lr"])
    batch_size = min(RECIPE["batch_size"], len(x))
    steps_per_epoch = max(1, len(x) // batch_size)
    epochs = min(RECIPE["epochs"], math.ceil(RECIPE["max_steps"] / steps_per_epoch))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, RECIPE["lr"], total_steps=epochs * steps_per_epoch
    )
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for step in range(steps_per_epoch):
            index = order[step * batch_size : (step + 1) * batch_size]
            batch = _jitter(x[index], generator)
            loss = F.cross_entropy(model(batch)[1], y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def _jitter(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to one pixel (padding with background) for robustness."""
    padded = F.pad(images, (1, 1, 1, 1), value=-1.0)
    dx, dy = torch.randint(0, 3, (2,), generator=generator).tolist()
    h, w = images.shape[-2:]
    return padded[..., dy : dy + h, dx : dx + w]


@torch.no_grad()
def accuracy(model: SmallCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x)[1].argmax(dim=1) == y).double().mean())


def load_or_train(
    family: str, train: tuple, test: tuple, num_classes: int, cache_dir: Path
) -> tuple[SmallCNN, dict]:
    """The cached classifier for this data and recipe, trained and cached on a miss."""
    key = hashlib.sha256(
        json.dumps({"recipe": RECIPE, "data": data_hash(*train), "family": family}).encode()
    ).hexdigest()[:16]
    path = Path(cache_dir) / "classifiers" / f"{family}-{key}.pt"
    model = SmallCNN(train[0].shape[1], num_classes, RECIPE["width"])
    if path.exists():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["state_dict"])
        return model.eval(), {**saved["meta"], "path": str(path), "cache_hit": True}
    model = train_classifier(*train, num_classes)
    meta = {
        "family": family,
        "hash": key,
        "accuracy": accuracy(model, *test),
        "recipe": json.dumps(RECIPE),
        "in_channels": train[0].shape[1],
        "num_classes": num_classes,
        "resolution": train[0].shape[-1],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)
    os.replace(tmp, path)
    return model, {**meta, "path": str(path), "cache_hit": False}
