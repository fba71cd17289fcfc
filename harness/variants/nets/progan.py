"""ProGAN's growing networks (Karras et al. 2018, §2–4 and Table 2), written from the paper, at
a constant ``width`` (the CPU scale) or the paper's feature maps per resolution, nf(stage) =
min(``fmap_base`` / 2^stage, ``fmap_max``) with 4×4 at stage 1 (its nets halve the width
above 32 px: fmap_base 8192, fmap_max 512); architecture
``progan``, trained by the ``progan`` recipe (``harness.recipes.progressive``) on
``harness.recipes.growing``'s schedule. StyleGAN uses the same D.

- G: the pixel-normalised latent → an equalised dense layer to nf(1) × 4 × 4 (gain √2/4, as
  the paper's code matches the original Theano implementation), leaky ReLU 0.2 and pixel norm,
  a 3×3 conv; then per doubling a nearest 2× upsample and two 3×3 convs, each followed by leaky
  ReLU and pixel norm. Each resolution has its own 1×1 toRGB (gain 1, linear).
- D mirrors it: per resolution a 1×1 fromRGB with leaky ReLU, two 3×3 convs and a 2× average
  pool down to 4×4; there, minibatch stddev (one more feature map), a 3×3 conv, a dense layer
  over the 4×4 map and a linear output (gain 1).
- ``forward(..., resolution, alpha)`` runs the nets at ``resolution`` (a power of two from 4 to
  ``final``); with α < 1 the newest block is faded in: G blends the upsampled toRGB of the
  previous resolution into the new one, D the fromRGB of the 2× pooled input into the new
  block's output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from harness.variants.nets.karras import (
    SQRT2,
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    fade,
)

LEAK = 0.2


def _steps(start: int, final: int) -> list[int]:
    if final < start or final & (final - 1):
        raise ValueError(f"final resolution must be a power of two ≥ {start}, not {final}")
    return [start << k for k in range(int(math.log2(final // start)) + 1)]


def level_of(resolutions: list[int], resolution: int | None, images=None) -> int:
    """The index of ``resolution`` (default: the final one, or the images' size) among a
    growing net's ``resolutions``; a clear error for any other size."""
    if resolution is None:
        resolution = resolutions[-1] if images is None else images.shape[-1]
    if resolution not in resolutions:
        raise ValueError(f"resolution {resolution} is not one of {resolutions}")
    if images is not None and images.shape[-1] != resolution:
        raise ValueError(f"images of {images.shape[-1]} px at resolution {resolution}")
    return resolutions.index(resolution)


def feature_maps(
    resolutions: list[int], width: int, fmap_base: int = 0, fmap_max: int = 0
) -> dict[int, int]:
    """Channels at each resolution, and at "0" (D's dense layer): ``width`` throughout, or
    the papers' nf(stage) = min(fmap_base / 2^stage, fmap_max) with stage = log2(resolution) − 1
    (4×4 is stage 1) when ``fmap_base`` is set."""
    if not fmap_base:
        return {0: width, **dict.fromkeys(resolutions, width)}
    cap = fmap_max or fmap_base

    def nf(stage: int) -> int:
        return max(1, min(int(fmap_base / 2**stage), cap))

    return {0: nf(0), **{r: nf(int(math.log2(r)) - 1) for r in resolutions}}


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LEAK)


def _pair(channels_in: int, channels_mid: int, channels_out: int) -> nn.ModuleList:
    """Two 3×3 equalised convs: ``channels_in`` → ``channels_mid`` → ``channels_out``."""
    return nn.ModuleList(
        [
            EqualizedConv2d(channels_in, channels_mid, 3),
            EqualizedConv2d(channels_mid, channels_out, 3),
        ]
    )


class ProGenerator(nn.Module):
    def __init__(
        self,
        latent_dim: int,
        channels: int,
        final: int,
        width: int,
        fmap_base: int = 0,
        fmap_max: int = 0,
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.resolutions = _steps(4, final)
        self.maps = maps = feature_maps(self.resolutions, width, fmap_base, fmap_max)
        self.width = maps[4]
        self.norm = PixelNorm()
        self.dense = EqualizedLinear(latent_dim, maps[4] * 16, gain=SQRT2 / 4)
        self.first = EqualizedConv2d(maps[4], maps[4], 3)
        self.blocks = nn.ModuleList(
            _pair(maps[low], maps[low * 2], maps[low * 2]) for low in self.resolutions[:-1]
        )
        self.to_rgb = nn.ModuleList(
            EqualizedConv2d(maps[r], channels, 1, gain=1.0) for r in self.resolutions
        )

    def features(self, z: torch.Tensor, resolution: int) -> list[torch.Tensor]:
        """The feature maps at each resolution up to ``resolution``."""
        level = level_of(self.resolutions, resolution)
        x = self.norm(z)
        x = self.norm(_lrelu(self.dense(x).view(len(z), self.width, 4, 4)))
        x = self.norm(_lrelu(self.first(x)))
        out = [x]
        for block in self.blocks[:level]:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            for conv in block:
                x = self.norm(_lrelu(conv(x)))
            out.append(x)
        return out

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        resolution: int | None = None,
        alpha: float = 1.0,
    ) -> torch.Tensor:
        resolution = resolution or self.resolutions[-1]
        maps = self.features(z, resolution)
        index = len(maps) - 1
        image = self.to_rgb[index](maps[-1])
        if alpha < 1.0 and index > 0:
            image = fade(self.to_rgb[index - 1](maps[-2]), image, alpha)
        return image


class ProDiscriminator(nn.Module):
    def __init__(
        self,
        channels: int,
        final: int,
        width: int,
        group_size: int = 4,
        fmap_base: int = 0,
        fmap_max: int = 0,
    ) -> None:
        super().__init__()
        self.resolutions = _steps(4, final)
        maps = feature_maps(self.resolutions, width, fmap_base, fmap_max)
        self.from_rgb = nn.ModuleList(
            EqualizedConv2d(channels, maps[r], 1) for r in self.resolutions
        )
        self.blocks = nn.ModuleList(
            _pair(maps[low * 2], maps[low * 2], maps[low]) for low in self.resolutions[:-1]
        )
        self.stddev = MinibatchStdDev(group_size)
        self.last_conv = EqualizedConv2d(maps[4] + 1, maps[4], 3)
        self.dense = EqualizedLinear(maps[4] * 16, maps[0])
        self.out = EqualizedLinear(maps[0], 1, gain=1.0)

    def _block(self, index: int, x: torch.Tensor) -> torch.Tensor:
        for conv in self.blocks[index - 1]:
            x = _lrelu(conv(x))
        return F.avg_pool2d(x, 2)

    def forward(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        resolution: int | None = None,
        alpha: float = 1.0,
    ) -> torch.Tensor:
        index = level_of(self.resolutions, resolution, x)
        h = _lrelu(self.from_rgb[index](x))
        if index > 0:
            h = self._block(index, h)
            if alpha < 1.0:
                skip = _lrelu(self.from_rgb[index - 1](F.avg_pool2d(x, 2)))
                h = torch.lerp(skip, h, alpha)
            for lower in range(index - 1, 0, -1):
                h = self._block(lower, h)
        h = _lrelu(self.last_conv(self.stddev(h)))
        h = _lrelu(self.dense(h.flatten(1)))
        return self.out(h).squeeze(1)


def build(variant, info):
    """ProGAN's G and D for square images of a power-of-two size ≥ 4 (unconditional)."""
    if variant.conditional:
        raise ValueError("architecture 'progan' is unconditional; allowed: conditional = false")
    channels, size = info.shape[0], info.shape[-1]
    fmaps = {"fmap_base": variant.fmap_base, "fmap_max": variant.fmap_max}
    generator = ProGenerator(variant.latent_dim, channels, size, variant.width, **fmaps)
    discriminator = ProDiscriminator(channels, size, variant.d_width or variant.width, **fmaps)
    return generator, discriminator
