"""Pieces shared by the architectures: normalised layers and label conditioning."""

from __future__ import annotations

import torch
from torch import nn


def d_layer(layer: nn.Module, normalization: str) -> nn.Module:
    """Wrap a discriminator weight layer in spectral normalisation when the variant asks."""
    if normalization == "spectral":
        return nn.utils.parametrizations.spectral_norm(layer)
    return layer


def d_norm(normalization: str, features: int, conv: bool) -> nn.Module:
    """The normalisation that follows a hidden discriminator layer (never the input layer:
    there, normalising real and fake batches apart would cancel any affine change of the
    fake batch, and Radford et al. 2016 leave it out)."""
    if normalization == "batch":
        return nn.BatchNorm2d(features) if conv else nn.BatchNorm1d(features)
    if normalization == "layer":
        return nn.GroupNorm(1, features) if conv else nn.LayerNorm(features)
    return nn.Identity()


def label_factors(info) -> tuple[int, ...]:
    """The label as independent factors: (10, 10, 10) for a stacked-digit triple (label =
    100·d0 + 10·d1 + d2), else one factor of ``num_classes``."""
    return tuple(info.label_factors) or (info.num_classes,)


def split_labels(labels: torch.Tensor, factors: tuple[int, ...]) -> list[torch.Tensor]:
    """Mixed-radix digits of ``labels``, most significant factor first."""
    parts, rest = [], labels
    for size in reversed(factors):
        parts.append(rest % size)
        rest = torch.div(rest, size, rounding_mode="floor")
    return parts[::-1]


def embedding_dim(num_classes: int) -> int:
    return min(64, max(8, num_classes))


class LabelEmbedding(nn.Module):
    """Class labels as a learned vector, one embedding per label factor, concatenated; an
    empty vector when unconditional. A factorised label (the three digits of a stacked
    triple) shares each digit's embedding across the 100 triples that contain it, so every
    entry is trained on a tenth of the data rather than a thousandth."""

    def __init__(self, factors: tuple[int, ...], conditional: bool, wrap=None) -> None:
        super().__init__()
        self.factors = tuple(factors)
        wrap = wrap or (lambda layer: layer)
        sizes = [embedding_dim(f) for f in self.factors]
        self.dim = sum(sizes) if conditional else 0
        self.embeds = (
            nn.ModuleList(
                wrap(nn.Embedding(f, d)) for f, d in zip(self.factors, sizes, strict=True)
            )
            if conditional
            else None
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Concatenate the label vector to a flat input (or return it unchanged)."""
        if self.embeds is None:
            return x
        parts = split_labels(labels, self.factors)
        return torch.cat([x, *(e(p) for e, p in zip(self.embeds, parts, strict=True))], dim=1)


class Projection(nn.Module):
    """The projection term of a conditional discriminator (Miyato & Koyama 2018):
    ⟨embed(y), h⟩, summed over label factors, embeddings Xavier-initialised as in the paper
    (``nn.Embedding``'s N(0, 1) start made the term swamp D's output at 2,048 features)."""

    def __init__(self, factors: tuple[int, ...], features: int, normalization: str) -> None:
        super().__init__()
        self.factors = tuple(factors)
        embeds = []
        for size in self.factors:
            embed = nn.Embedding(size, features)
            nn.init.xavier_uniform_(embed.weight)
            embeds.append(d_layer(embed, normalization))
        self.embeds = nn.ModuleList(embeds)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        parts = split_labels(labels, self.factors)
        return sum((e(p) * h).sum(dim=1) for e, p in zip(self.embeds, parts, strict=True))
