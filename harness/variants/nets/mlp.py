"""Fully connected generator and discriminator (Goodfellow et al. 2014, arXiv:1406.2661)."""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.variants.nets.common import LabelEmbedding, d_layer, d_norm, embedding_dim


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim, out_shape, width, depth, num_classes, conditional, images):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.label = LabelEmbedding(num_classes, embedding_dim(num_classes), conditional)
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
    def __init__(self, in_shape, width, depth, num_classes, conditional, normalization):
        super().__init__()
        self.label = LabelEmbedding(num_classes, embedding_dim(num_classes), conditional)
        layers, features = [], math.prod(in_shape) + self.label.dim
        for _ in range(depth):
            layers += [
                d_layer(nn.Linear(features, width), normalization),
                d_norm(normalization, width, conv=False),
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
        info.num_classes,
        variant.conditional,
        images,
    )
    discriminator = MLPDiscriminator(
        info.shape,
        variant.width,
        variant.depth,
        info.num_classes,
        variant.conditional,
        variant.normalization,
    )
    return generator, discriminator
