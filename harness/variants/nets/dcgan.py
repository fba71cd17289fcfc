"""DCGAN-style convolutional G/D sized to the dataset's resolution.

Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks" (arXiv:1511.06434): strided (transposed) convolutions, batch
norm in G, LeakyReLU in D, tanh output. D's input layer is never normalised; every later
hidden layer is. At 8×8, where one strided convolution already reaches 4×4, D halves once
more (to 2×2), starting from half the base width so that its last hidden layer is as wide as
G's first: it then has a hidden layer to normalise (version 2; before, the normalisation
axis did nothing there), at about a third of the cost of keeping the full width. Class conditioning: the label embedding (one per label
factor) is concatenated to z in G and used as a projection term in D (Miyato & Koyama 2018).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from harness.variants.nets.common import LabelEmbedding, Projection, d_layer, d_norm, label_factors
from harness.variants.nets.layout import DCGAN_RESOLUTIONS

RESOLUTIONS = DCGAN_RESOLUTIONS


def _layout(resolution: int) -> tuple[int, int]:
    """The starting spatial size and the number of 2× upsamplings to reach ``resolution``."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"dcgan supports resolutions {RESOLUTIONS}, not {resolution}")
    start = 7 if resolution == 28 else 4
    return start, int(math.log2(resolution // start))


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim, channels, resolution, width, factors, conditional):
        super().__init__()
        self.start, ups = _layout(resolution)
        self.label = LabelEmbedding(factors, conditional)
        features = width * 2 ** (ups - 1)
        self.project = nn.Sequential(
            nn.Linear(latent_dim + self.label.dim, features * self.start**2, bias=False),
            nn.Unflatten(1, (features, self.start, self.start)),
            nn.BatchNorm2d(features),
            nn.ReLU(),
        )
        blocks = []
        for _ in range(ups - 1):
            blocks += [
                nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(features // 2),
                nn.ReLU(),
            ]
            features //= 2
        blocks += [nn.ConvTranspose2d(features, channels, 4, 2, 1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.blocks(self.project(self.label(z, labels)))


class DCGANDiscriminator(nn.Module):
    def __init__(self, channels, resolution, width, factors, conditional, normalization):
        super().__init__()
        start, downs = _layout(resolution)
        if downs == 1:  # 8×8: one more halving (to 2×2) from half the width, so D has a
            # hidden layer to normalise and ends as wide as G starts
            start, downs, width = start // 2, 2, max(1, width // 2)
        # The input layer: a strided convolution, no normalisation.
        layers, features = [d_layer(nn.Conv2d(channels, width, 4, 2, 1), normalization)], width
        layers.append(nn.LeakyReLU(0.2))
        for _ in range(downs - 1):
            layers += [
                d_layer(nn.Conv2d(features, features * 2, 4, 2, 1), normalization),
                d_norm(normalization, features * 2, conv=True),
                nn.LeakyReLU(0.2),
            ]
            features *= 2
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        flat = features * start**2
        self.out = d_layer(nn.Linear(flat, 1), normalization)
        self.project = Projection(factors, flat, normalization) if conditional else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        out = self.out(h).squeeze(1)
        if self.project is not None:
            out = out + self.project(h, labels)
        return out


def build(variant, info):
    """Build the DCGAN pair for a resolved variant and an image dataset."""
    channels, resolution = info.shape[0], info.shape[-1]
    generator = DCGANGenerator(
        variant.latent_dim,
        channels,
        resolution,
        variant.width,
        label_factors(info),
        variant.conditional,
    )
    discriminator = DCGANDiscriminator(
        channels,
        resolution,
        variant.width,
        label_factors(info),
        variant.conditional,
        variant.normalization,
    )
    return generator, discriminator
