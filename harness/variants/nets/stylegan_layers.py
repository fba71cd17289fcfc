"""StyleGAN's (v1) building blocks (Karras, Laine & Aila 2019, §2–3 and Appendix C), written
from the paper; ``harness.variants.nets.stylegan`` assembles them into StyleGAN's generator.

- ``MappingNetwork``: z, pixel-normalised, through equalised dense layers with leaky ReLU to w;
  its layers learn at ``lr_multiplier`` (the paper: 0.01) times the rate of the rest.
- ``ConstantInput``: the synthesis network's learned 4×4 input, the same for every sample
  (it does not depend on z).
- ``NoiseInjection``: per-pixel Gaussian noise added with a learned per-channel scale that
  starts at 0.
- ``AdaIN``: instance normalisation, then per-channel scale (1 + y_s) and bias y_b from an
  equalised dense layer of w (gain 1).
- ``mixing_cutoff``: style mixing regularisation: with probability p, one crossover layer drawn
  uniformly from 1 to layers − 1 for the batch (layers from it on take the second latent's w),
  else none (``layers``).
- ``truncate``: w̄ + ψ (w − w̄) on the layers below ``cutoff`` (all by default); ψ = 1 is
  the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.variants.nets.karras import EqualizedLinear, PixelNorm

LEAK = 0.2


class MappingNetwork(nn.Module):
    def __init__(
        self, latent_dim: int, w_dim: int, layers: int = 8, lr_multiplier: float = 0.01
    ) -> None:
        super().__init__()
        self.norm = PixelNorm()
        dims = [latent_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(
            EqualizedLinear(a, b, lr_multiplier=lr_multiplier)
            for a, b in zip(dims[:-1], dims[1:], strict=True)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.norm(z)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), LEAK)
        return x


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.constant = nn.Parameter(torch.ones(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.constant.expand(batch, -1, -1, -1)


class NoiseInjection(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn(len(x), 1, *x.shape[2:], device=x.device)
        return x + self.weight.view(1, -1, 1, 1) * noise


class AdaIN(nn.Module):
    def __init__(self, channels: int, w_dim: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.style = EqualizedLinear(w_dim, 2 * channels, gain=1.0)
        self.eps = eps

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, bias = self.style(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + self.eps).sqrt()
        return (x - mean) / std * (1 + scale) + bias


def mixing_cutoff(layers: int, probability: float, generator: torch.Generator) -> int:
    """The first layer that takes the second latent's w (``layers``: no mixing)."""
    if torch.rand((), generator=generator).item() < probability:
        return int(torch.randint(1, layers, (), generator=generator).item())
    return layers


def truncate(
    w: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None = None
) -> torch.Tensor:
    """Per-layer latents ``w`` (batch, layers, w_dim) pulled towards ``w_avg`` by ψ on the
    layers below ``cutoff`` (every layer when None)."""
    layers = w.shape[1]
    cutoff = layers if cutoff is None else cutoff
    weights = torch.where(torch.arange(layers) < cutoff, psi, 1.0).view(1, -1, 1).to(w)
    return torch.lerp(w_avg.view(1, 1, -1).expand_as(w), w, weights)  # exact where ψ = 1
