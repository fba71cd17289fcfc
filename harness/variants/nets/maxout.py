"""PacGAN's 2-D networks (Lin et al. 2018, synthetic experiments): an MLP G with batch norm
and a maxout D.

- G: ``depth`` hidden layers of ``width`` units (the paper: 4 × 400), each linear → batch norm
  → ReLU, then a linear output.
- D: ``depth`` maxout layers (the paper: 3 × 200 units of 5 pieces; here ``d_width`` units,
  200 when 0, and ``MAXOUT_PIECES`` pieces), then a linear output. D's input is the packed
  sample (``pack`` points side by side), so only its first layer widens with ``pack``. The
  normalisation axis acts on D's hidden maxout layers (never the input layer) or wraps every
  layer (spectral).
- Initialisation as in the paper's code (fjxmlzn/PacGAN ``weights_init_std = 0.02``,
  ``biases_init = 0``): every weight of G and D drawn from N(0, 0.02²), every bias 0, batch
  norm's scale 1 and shift 0; G's hidden linear layers have no bias (``use_bias=False``:
  batch norm's shift takes its place), its output layer has one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.variants.nets.common import d_layer, d_norm

MAXOUT_PIECES = 5
D_DEPTH = 3  # maxout layers in the paper's D
INIT_STD = 0.02  # the paper's code: IsotropicGaussian(0.02) for every weight, biases 0


def paper_linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    """A linear layer initialised as PacGAN's code does: weights N(0, 0.02²), bias 0."""
    layer = nn.Linear(in_features, out_features, bias=bias)
    nn.init.normal_(layer.weight, 0.0, INIT_STD)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


class Maxout(nn.Module):
    """A linear layer to ``units × pieces`` outputs and the max over each unit's pieces."""

    def __init__(self, in_features: int, units: int, pieces: int, normalization: str) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = d_layer(paper_linear(in_features, units * pieces), normalization)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(len(x), self.units, self.pieces).amax(dim=2)


class BatchNormMLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, out_shape, width: int, depth: int) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        layers, features = [], latent_dim
        for _ in range(depth):
            layers += [paper_linear(features, width, bias=False), nn.BatchNorm1d(width), nn.ReLU()]
            features = width
        layers.append(paper_linear(features, math.prod(self.out_shape)))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, *self.out_shape)


class MaxoutDiscriminator(nn.Module):
    def __init__(self, in_shape, units: int, normalization: str) -> None:
        super().__init__()
        layers, features = [], math.prod(in_shape)
        for index in range(D_DEPTH):
            layers += [
                Maxout(features, units, MAXOUT_PIECES, normalization),
                nn.Identity() if index == 0 else d_norm(normalization, units, conv=False),
            ]
            features = units
        layers.append(d_layer(paper_linear(features, 1), normalization))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


def build(variant, info):
    """PacGAN's G and maxout D for 2-D points (unconditional)."""
    if variant.conditional:
        raise ValueError("architecture 'maxout' is unconditional (PacGAN's 2-D networks)")
    generator = BatchNormMLPGenerator(variant.latent_dim, info.shape, variant.width, variant.depth)
    discriminator = MaxoutDiscriminator(info.shape, variant.d_width or 200, variant.normalization)
    return generator, discriminator
