"""CoGAN's coupled nets (Liu & Tuzel 2016, §3), written from the paper: two generators fed one
latent whose first (input-side) layers are the *same* modules, and two discriminators whose
last (output-side) layers are the same modules. With ``tied = false`` every layer has a copy
per domain: the no-sharing control, two GANs that only share their latent.

At ``resolution`` R (8 or 16 px) with base width w:

- G: z → linear to 4w × 2 × 2, batch norm, PReLU; transposed convs 4×4 stride 2 halving the
  width up to R/2 (batch norm, PReLU), all shared; then per domain a transposed conv to one
  channel at R with tanh.
- D: per domain a 3×3 stride-2 conv (R → R/2) with LeakyReLU 0.2; shared: 3×3 stride-2 convs
  doubling the width down to 2 × 2, then a linear layer to one logit.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def _pair(module: nn.Module, tied: bool) -> tuple[nn.Module, nn.Module]:
    """The same module twice (tied) or two independently initialised copies."""
    if tied:
        return module, module
    twin = copy.deepcopy(module)
    for m in twin.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return module, twin


class CoupledGenerator(nn.Module):
    """``forward(z)`` → domain-B images (what evaluation compares with the dataset's real
    images); ``both(z)`` → (domain A, domain B) images from the same latents."""

    def __init__(
        self, latent_dim: int, channels: tuple[int, int], resolution: int, width: int, tied: bool
    ):
        super().__init__()
        ups = int(math.log2(resolution // 2)) - 1  # 2×2 → R/2
        layers: list[nn.Module] = [
            nn.Linear(latent_dim, 4 * width * 4),
            nn.Unflatten(1, (4 * width, 2, 2)),
            nn.BatchNorm2d(4 * width),
            nn.PReLU(),
        ]
        w = 4 * width
        for _ in range(ups):
            layers += [nn.ConvTranspose2d(w, w // 2, 4, 2, 1), nn.BatchNorm2d(w // 2), nn.PReLU()]
            w //= 2
        self.shared_a, self.shared_b = _pair(nn.Sequential(*layers), tied)
        self.head_a = nn.Sequential(nn.ConvTranspose2d(w, channels[0], 4, 2, 1), nn.Tanh())
        self.head_b = nn.Sequential(nn.ConvTranspose2d(w, channels[1], 4, 2, 1), nn.Tanh())

    def both(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head_a(self.shared_a(z)), self.head_b(self.shared_b(z))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head_b(self.shared_b(z))


class CoupledDiscriminator(nn.Module):
    """``forward(x, domain)`` → one logit per image of domain "A" or "B"."""

    def __init__(self, channels: tuple[int, int], resolution: int, width: int, tied: bool):
        super().__init__()
        self.first_a = nn.Sequential(nn.Conv2d(channels[0], width, 3, 2, 1), nn.LeakyReLU(0.2))
        self.first_b = nn.Sequential(nn.Conv2d(channels[1], width, 3, 2, 1), nn.LeakyReLU(0.2))
        layers: list[nn.Module] = []
        w, size = width, resolution // 2
        while size > 2:
            layers += [nn.Conv2d(w, 2 * w, 3, 2, 1), nn.LeakyReLU(0.2)]
            w, size = 2 * w, size // 2
        layers += [nn.Flatten(), nn.Linear(w * size * size, 1)]
        self.shared_a, self.shared_b = _pair(nn.Sequential(*layers), tied)

    def forward(self, x: torch.Tensor, domain: str = "B") -> torch.Tensor:
        if domain == "A":
            return self.shared_a(self.first_a(x)).squeeze(1)
        return self.shared_b(self.first_b(x)).squeeze(1)


def build(spec, info):
    """CoGAN: a coupled G and a coupled D for the dataset's two domains."""
    resolution = info.shape[-1]
    channels = (info.source_shape[0], info.shape[0])
    generator = CoupledGenerator(spec.latent_dim, channels, resolution, spec.width, spec.tied)
    discriminator = CoupledDiscriminator(
        channels, resolution, spec.d_width or spec.width, spec.tied
    )
    return generator, discriminator
