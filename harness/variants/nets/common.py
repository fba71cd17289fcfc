"""Pieces shared by the architectures: normalised layers and label conditioning."""

from __future__ import annotations

import torch
from torch import nn


def d_layer(layer: nn.Module, normalization: str) -> nn.Module:
    """Wrap a discriminator layer in spectral normalisation when the variant asks for it."""
    if normalization == "spectral":
        return nn.utils.parametrizations.spectral_norm(layer)
    return layer


def d_norm(normalization: str, features: int, conv: bool) -> nn.Module:
    """The normalisation that follows a hidden discriminator layer."""
    if normalization == "batch":
        return nn.BatchNorm2d(features) if conv else nn.BatchNorm1d(features)
    if normalization == "layer":
        return nn.GroupNorm(1, features) if conv else nn.LayerNorm(features)
    return nn.Identity()


class LabelEmbedding(nn.Module):
    """Maps class labels to a learned vector; an empty vector when unconditional."""

    def __init__(self, num_classes: int, dim: int, conditional: bool) -> None:
        super().__init__()
        self.dim = dim if conditional else 0
        self.embed = nn.Embedding(num_classes, dim) if conditional else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Concatenate the label vector to a flat input (or return it unchanged)."""
        if self.embed is None:
            return x
        return torch.cat([x, self.embed(labels)], dim=1)


def embedding_dim(num_classes: int) -> int:
    return min(64, max(8, num_classes))
