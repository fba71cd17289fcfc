"""Pieces shared by the architectures: normalised layers and label conditioning."""

from __future__ import annotations

import torch
from torch import nn


def d_layer(layer: nn.Module, normalization: str) -> nn.Module:
    """Wrap a discriminator weight layer in spectral normalisation when the variant asks."""
    if normalization == "spectral":
        return nn.utils.parametrizations.spectral_norm(layer)
    return layer


class RealStatsBatchNorm(nn.BatchNorm1d):
    """Batch norm for D whose batch statistics come from the real examples of the batch.

    D sees real and fake examples in one batch, and both are normalised with the real part's
    mean and variance (a reference batch, as in Salimans et al. 2016's virtual batch norm).
    Normalising each batch with its own statistics, as Radford et al. do, removes the fake
    batch's mean from every hidden layer: a collapsed fake batch then looks the same wherever
    it sits, and on 2-D data G was seen to settle as a blob at the origin."""

    def __init__(self, features: int, conv: bool) -> None:
        super().__init__(features)
        self.conv = conv
        self.reference: int | None = None  # how many leading examples are real

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() != (4 if self.conv else 2):
            raise ValueError(f"expected {'4' if self.conv else '2'}-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.reference is None:
            return super().forward(x)
        dims = (0, 2, 3) if self.conv else (0,)
        real = x[: self.reference]
        mean, var = real.mean(dims), real.var(dims, unbiased=False)
        with torch.no_grad():
            count = real.numel() / real.shape[1]
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var * count / max(count - 1, 1), self.momentum)
            self.num_batches_tracked += 1
        shape = (1, -1, 1, 1) if self.conv else (1, -1)
        scale = (self.weight / (var + self.eps).sqrt()).view(shape)
        return (x - mean.view(shape)) * scale + self.bias.view(shape)


def d_norm(normalization: str, features: int, conv: bool) -> nn.Module:
    """The normalisation that follows a hidden discriminator layer (never the input layer:
    there, normalising real and fake batches apart would cancel any affine change of the
    fake batch, and Radford et al. 2016 leave it out)."""
    if normalization == "batch":
        return RealStatsBatchNorm(features, conv)
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
    ⟨embed(y), h⟩, summed over label factors, embeddings Xavier-initialised as in the
    paper's code. On stacked digits the factorisation is what makes conditioning work (one
    1,000-way table left the requested triple matched 0.8% of the time at the nightly
    budget); the initialisation made no clear difference there."""

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


def discriminate(discriminator, real, fake, real_labels=None, fake_labels=None):
    """D's outputs on a real and a fake batch, as training computes them. With batch norm in
    D (``RealStatsBatchNorm``) both go through as one batch normalised with the real half's
    statistics; otherwise each batch goes through on its own."""
    norms = [m for m in discriminator.modules() if isinstance(m, RealStatsBatchNorm)]
    if not norms:
        return discriminator(real, real_labels), discriminator(fake, fake_labels)
    labels = None if real_labels is None else torch.cat([real_labels, fake_labels])
    for norm in norms:
        norm.reference = len(real)
    try:
        out = discriminator(torch.cat([real, fake]), labels)
    finally:
        for norm in norms:
            norm.reference = None
    return out[: len(real)], out[len(real) :]
