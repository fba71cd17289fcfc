"""Fully connected generator and discriminator (Goodfellow et al. 2014, arXiv:1406.2661).

D's first layer is never normalised: real and fake batches go through D separately, so a
normalisation there would cancel any per-feature shift or scale of the fake batch and leave D
blind to where the fake points are (version 2 fixed this). The normalisation axis acts on the
hidden layers after it, so it needs ``depth`` >= 2.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.variants.nets.common import LabelEmbedding, d_layer, d_norm, label_factors


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim, out_shape, width, depth, factors, conditional, images):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.label = LabelEmbedding(factors, conditional)
        layers, features = [], latent_dim + self.label.dim
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.ReLU()]
            features = width
        layers.append(nn.Linear(features, math.prod(self.out_shape)))
        if images:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.label(z, labels)).view(-1, *self.out_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, in_shape, width, depth, factors, conditional, normalization):
        super().__init__()
        self.label = LabelEmbedding(
            factors, conditional, wrap=lambda layer: d_layer(layer, normalization)
        )
        layers, features = [], math.prod(in_shape) + self.label.dim
        for index in range(depth):
            layers += [
                d_layer(nn.Linear(features, width), normalization),
                nn.Identity() if index == 0 else d_norm(normalization, width, conv=False),
                nn.LeakyReLU(0.2),
            ]
            features = width
        layers.append(d_layer(nn.Linear(features, 1), normalization))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(self.label(x.flatten(1), labels)).squeeze(1)


def build(variant, info):
    """Build the MLP pair for a resolved variant and dataset."""
    images = info.kind == "images"
    generator = MLPGenerator(
        variant.latent_dim,
        info.shape,
        variant.width,
        variant.depth,
        label_factors(info),
        variant.conditional,
        images,
    )
    discriminator = MLPDiscriminator(
        info.shape,
        variant.width,
        variant.depth,
        label_factors(info),
        variant.conditional,
        variant.normalization,
    )
    return generator, discriminator
