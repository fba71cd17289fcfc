"""StyleGAN's (v1) generator (Karras, Laine & Aila 2019, §2–3 and Appendix C), written from the
paper, with ProGAN's discriminator (``harness.variants.nets.progan``); the layers are in
``harness.variants.nets.stylegan_layers`` and ``harness.variants.nets.karras``.

- The mapping network (``mapping_layers`` equalised dense layers, leaky ReLU, learning rate ×
  ``mapping_lr``) takes the pixel-normalised z to w (as wide as z, the paper's 512 = 512).
- Widths as ProGAN's (``width`` throughout, or nf(stage) from ``fmap_base`` and ``fmap_max``).
- Synthesis starts from a learned constant 4×4 input that does not depend on z; every
  resolution has two style layers (the first at 4×4 is the constant itself, the first above it
  a nearest 2× upsample, a 3×3 conv and the paper's [1, 2, 1] blur; the second a 3×3 conv),
  each followed by its noise (one N(0, 1) image, scaled per channel, the scales starting at
  0), its bias, leaky ReLU 0.2 and AdaIN of its own w. So a 16-px G has 6 style layers
  (4, 4, 8, 8, 16, 16) and takes ``ws`` of shape (batch, 6, w_dim), one w per layer.
- Each resolution has a 1×1 toRGB; ``resolution`` and ``alpha`` grow it as ProGAN's G grows
  (the StyleGAN recipe grows it only when asked).
- Noise: drawn from ``noise_rng`` when one is given (training); otherwise derived from each
  sample's own latent (a generator seeded by a hash of its bytes), so a latent bank gives the
  same images at every evaluation, on resume too, whatever the chunking.
- ``w_avg`` (a buffer) is the tracked mean w the recipe updates during training; truncation
  (``psi``) pulls every layer's w towards it by ψ (1 is the identity; the paper's pictures use
  ψ = 0.7 on the coarse layers only, its FIDs none).
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from torch import nn

from harness.variants.nets.karras import EqualizedConv2d, fade
from harness.variants.nets.progan import ProDiscriminator, _steps, feature_maps, level_of
from harness.variants.nets.stylegan_layers import (
    AdaIN,
    ConstantInput,
    MappingNetwork,
    NoiseInjection,
    truncate,
)

LEAK = 0.2
BLUR = torch.tensor([1.0, 2.0, 1.0])


class Blur(nn.Module):
    """The normalised [1, 2, 1] ⊗ [1, 2, 1] low-pass filter, per channel."""

    def __init__(self) -> None:
        super().__init__()
        kernel = torch.outer(BLUR, BLUR)
        self.register_buffer("kernel", (kernel / kernel.sum()).view(1, 1, 3, 3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        return F.conv2d(x, self.kernel.expand(channels, 1, 3, 3), padding=1, groups=channels)


class StyleLayer(nn.Module):
    """One style layer: (upsample, conv, blur | conv | nothing), then noise, bias, leaky ReLU
    and AdaIN of this layer's w; ``channels_in`` → ``channels``."""

    def __init__(self, channels_in: int, channels: int, w_dim: int, kind: str) -> None:
        super().__init__()
        self.kind = kind  # "const", "conv" or "up"
        self.conv = EqualizedConv2d(channels_in, channels, 3) if kind != "const" else None
        self.blur = Blur() if kind == "up" else None
        self.bias = nn.Parameter(torch.zeros(channels)) if kind == "const" else None
        self.noise = NoiseInjection(channels)
        self.adain = AdaIN(channels, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.kind == "up":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.conv is not None:
            x = self.conv(x)  # its bias included
        if self.blur is not None:
            x = self.blur(x)
        x = self.noise(x, noise)
        if self.bias is not None:
            x = x + self.bias.view(1, -1, 1, 1)
        return self.adain(F.leaky_relu(x, LEAK), w)


def _latent_seed(row: torch.Tensor) -> int:
    digest = hashlib.blake2b(row.detach().cpu().numpy().tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class StyleGenerator(nn.Module):
    def __init__(
        self,
        latent_dim: int,
        channels: int,
        final: int,
        width: int,
        mapping_layers: int = 8,
        mapping_lr: float = 0.01,
        fmap_base: int = 0,
        fmap_max: int = 0,
    ) -> None:
        super().__init__()
        self.latent_dim = self.w_dim = latent_dim
        self.resolutions = _steps(4, final)
        maps = feature_maps(self.resolutions, width, fmap_base, fmap_max)
        self.mapping = MappingNetwork(latent_dim, latent_dim, mapping_layers, mapping_lr)
        self.register_buffer("w_avg", torch.zeros(latent_dim))
        self.constant = ConstantInput(maps[4])
        layers = [(maps[4], maps[4], "const"), (maps[4], maps[4], "conv")]
        for low in self.resolutions[:-1]:
            layers += [(maps[low], maps[2 * low], "up"), (maps[2 * low], maps[2 * low], "conv")]
        self.layers = nn.ModuleList(StyleLayer(a, b, latent_dim, kind) for a, b, kind in layers)
        self.to_rgb = nn.ModuleList(
            EqualizedConv2d(maps[r], channels, 1, gain=1.0) for r in self.resolutions
        )

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def layers_at(self, resolution: int) -> int:
        """The style layers a G grown to ``resolution`` runs."""
        return 2 * (self.resolutions.index(resolution) + 1)

    def noise_shapes(self, resolution: int) -> list[tuple[int, int]]:
        return [(4 << (i // 2),) * 2 for i in range(self.layers_at(resolution))]

    def draw_noise(
        self, count: int, resolution: int, generator: torch.Generator, device
    ) -> list[torch.Tensor]:
        return [
            torch.randn(count, 1, *shape, generator=generator).to(device)
            for shape in self.noise_shapes(resolution)
        ]

    def latent_noise(self, z: torch.Tensor, resolution: int) -> list[torch.Tensor]:
        """Each sample's noise from a generator seeded by its own latent's bytes."""
        shapes = self.noise_shapes(resolution)
        per_sample = []
        for row in z:
            generator = torch.Generator().manual_seed(_latent_seed(row))
            per_sample.append([torch.randn(1, 1, *shape, generator=generator) for shape in shapes])
        return [torch.cat(maps).to(z.device) for maps in zip(*per_sample, strict=True)]

    def styles(self, z: torch.Tensor) -> torch.Tensor:
        """w for every layer: (batch, num_layers, w_dim)."""
        return self.mapping(z).unsqueeze(1).expand(-1, self.num_layers, -1)

    def synthesis(
        self,
        ws: torch.Tensor,
        noise: list[torch.Tensor],
        resolution: int | None = None,
        alpha: float = 1.0,
    ) -> torch.Tensor:
        resolution = self.resolutions[level_of(self.resolutions, resolution)]
        x = self.constant(len(ws))
        previous = None
        for index in range(self.layers_at(resolution)):
            x = self.layers[index](x, ws[:, index], noise[index])
            if index == self.layers_at(resolution) - 3:
                previous = x  # the features of the resolution below the newest
        level = self.resolutions.index(resolution)
        image = self.to_rgb[level](x)
        if alpha < 1.0 and level > 0:
            image = fade(self.to_rgb[level - 1](previous), image, alpha)
        return image

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        resolution: int | None = None,
        alpha: float = 1.0,
        psi: float = 1.0,
        noise_rng: torch.Generator | None = None,
    ) -> torch.Tensor:
        resolution = resolution or self.resolutions[-1]
        ws = self.styles(z)
        if psi != 1.0:
            ws = truncate(ws, self.w_avg, psi)
        if noise_rng is not None:
            noise = self.draw_noise(len(z), resolution, noise_rng, z.device)
        else:
            noise = self.latent_noise(z, resolution)
        return self.synthesis(ws, noise, resolution, alpha)


def build(variant, info):
    """StyleGAN's G (mapping, constant input, AdaIN, noise) and ProGAN's D, for square images of
    a power-of-two size ≥ 4 (unconditional)."""
    if variant.conditional:
        raise ValueError("architecture 'stylegan' is unconditional; allowed: conditional = false")
    channels, size = info.shape[0], info.shape[-1]
    generator = StyleGenerator(
        variant.latent_dim,
        channels,
        size,
        variant.width,
        mapping_layers=variant.mapping_layers,
        mapping_lr=variant.mapping_lr,
        fmap_base=variant.fmap_base,
        fmap_max=variant.fmap_max,
    )
    discriminator = ProDiscriminator(
        channels,
        size,
        variant.d_width or variant.width,
        fmap_base=variant.fmap_base,
        fmap_max=variant.fmap_max,
    )
    return generator, discriminator
