"""The nets of ProGAN's mode-recovery experiment (Karras et al. 2018, Appendix E, "MNIST-1K
discrete mode test with crippled discriminator"), written from the paper and the facts of its
Theano configuration (``G_mnist_mode_recovery`` / ``D_mnist_mode_recovery``): small DCGAN-like
nets with one conv per resolution, whose ablation switches the paper's contributions on one by
one, so each can be measured against the baseline.

Channels: nf(stage) = min(fmap_base / 2^stage, fmap_max) (the experiment: fmap_base 64,
fmap_max 256). At a resolution r > 4 the layer of G, and that of D, has nf(log2 r − 2)
channels, D's divided by ``d_divisor`` (the crippling factor K: 4); G's 4×4 layer has 64.

- G: z (nf(0) = 64-d in the experiment; ``latent_dim`` here) pixel-normalised → a dense layer
  to 64 × 4 × 4 → per doubling a nearest 2× upsample and one 3×3 conv; leaky ReLU 0.3 after
  each; a 3×3 toRGB per resolution (linear) and tanh.
- D: per resolution from the top one 3×3 conv (leaky ReLU 0.2) and a 2× average pool; at a
  lower resolution than the final one, a 1×1 fromRGB (leaky ReLU) of the pooled image stands in
  for the blocks above; optionally the minibatch stddev over the whole batch (one more map);
  then a dense layer over the 4×4 maps to one output.
- ``equalized``: the paper's "our normalisation": equalised learning rate in G and D and pixel
  norm in G; otherwise batch norm after every hidden conv of G and D and He initialisation (the
  baseline). ``minibatch_stddev``: the stddev map in D. Growing (α fades) as ProGAN's nets;
  the no-growing control is the ``progan`` recipe with ``fade_kimg = 0``.
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
from harness.variants.nets.progan import _steps, level_of

G_LEAK, D_LEAK = 0.3, 0.2
FIRST_MAPS = 64  # G's 4×4 layer, whatever fmap_base


def _nf(stage: int, fmap_base: int, fmap_max: int) -> int:
    return max(1, min(int(fmap_base / 2**stage), fmap_max or fmap_base))


def _conv(channels_in: int, channels_out: int, kernel: int, equalized: bool, gain=SQRT2):
    if equalized:
        return EqualizedConv2d(channels_in, channels_out, kernel, gain=gain)
    conv = nn.Conv2d(channels_in, channels_out, kernel, padding=kernel // 2)
    nn.init.normal_(conv.weight, 0.0, gain / math.sqrt(conv.weight[0].numel()))  # He normal
    nn.init.zeros_(conv.bias)
    return conv


def _dense(features_in: int, features_out: int, equalized: bool, gain=SQRT2):
    if equalized:
        return EqualizedLinear(features_in, features_out, gain=gain)
    dense = nn.Linear(features_in, features_out)
    nn.init.normal_(dense.weight, 0.0, gain / math.sqrt(features_in))
    nn.init.zeros_(dense.bias)
    return dense


class ModeGenerator(nn.Module):
    def __init__(
        self,
        latent_dim: int,
        channels: int,
        final: int,
        fmap_base: int = 64,
        fmap_max: int = 256,
        equalized: bool = True,
    ) -> None:
        super().__init__()
        self.resolutions = _steps(4, final)
        self.maps = [FIRST_MAPS] + [
            _nf(int(math.log2(r)) - 2, fmap_base, fmap_max) for r in self.resolutions[1:]
        ]
        self.equalized = equalized
        self.latent_norm = PixelNorm()
        # Gain √2/4: the experiment's first layer is a 4×4 "full" conv of the 1×1 latent, whose
        # He initialisation counts a fan-in 16 times the latent's.
        self.dense = _dense(latent_dim, FIRST_MAPS * 16, equalized, gain=SQRT2 / 4)
        self.convs = nn.ModuleList(
            _conv(a, b, 3, equalized) for a, b in zip(self.maps[:-1], self.maps[1:], strict=True)
        )
        self.norms = nn.ModuleList(
            PixelNorm() if equalized else nn.BatchNorm2d(maps) for maps in self.maps
        )
        self.to_rgb = nn.ModuleList(_conv(m, channels, 3, equalized, gain=1.0) for m in self.maps)

    def _normed(self, index: int, x: torch.Tensor) -> torch.Tensor:
        if self.equalized:  # activation, then pixel norm
            return self.norms[index](F.leaky_relu(x, G_LEAK))
        return F.leaky_relu(self.norms[index](x), G_LEAK)  # batch norm before the activation

    def forward(
        self,
        z: torch.Tensor,
        labels: torch.Tensor | None = None,
        resolution: int | None = None,
        alpha: float = 1.0,
    ) -> torch.Tensor:
        level = level_of(self.resolutions, resolution)
        x = self._normed(0, self.dense(self.latent_norm(z)).view(len(z), FIRST_MAPS, 4, 4))
        previous = x
        for index in range(1, level + 1):
            previous = x
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self._normed(index, self.convs[index - 1](x))
        image = self.to_rgb[level](x)
        if alpha < 1.0 and level > 0:
            image = fade(self.to_rgb[level - 1](previous), image, alpha)
        return torch.tanh(image)


class ModeDiscriminator(nn.Module):
    def __init__(
        self,
        channels: int,
        final: int,
        fmap_base: int = 64,
        fmap_max: int = 256,
        d_divisor: int = 1,
        equalized: bool = True,
        minibatch_stddev: bool = True,
    ) -> None:
        super().__init__()
        self.resolutions = _steps(4, final)
        # The channels a conv at each resolution above 4 outputs (into the pooled map below).
        self.maps = {
            r: max(1, _nf(int(math.log2(r)) - 2, fmap_base, fmap_max) // d_divisor)
            for r in self.resolutions[1:]
        }
        self.equalized = equalized
        inputs = {r: self.maps.get(2 * r, channels) for r in self.resolutions[1:]}
        inputs[self.resolutions[-1]] = channels  # the top block reads the image itself
        self.convs = nn.ModuleDict(
            {str(r): _conv(inputs[r], self.maps[r], 3, equalized) for r in self.resolutions[1:]}
        )
        self.norms = nn.ModuleDict(
            {
                str(r): nn.Identity() if equalized else nn.BatchNorm2d(m)
                for r, m in self.maps.items()
            }
        )
        # fromRGB at every resolution below the final one: to what the block above outputs.
        self.from_rgb = nn.ModuleDict(
            {str(r): _conv(channels, self.maps[2 * r], 1, equalized) for r in self.resolutions[:-1]}
        )
        self.stddev = MinibatchStdDev(group_size=2**31) if minibatch_stddev else None
        last = self.maps[8] if len(self.resolutions) > 1 else channels
        self.out = _dense((last + int(minibatch_stddev)) * 16, 1, equalized, gain=1.0)

    def _block(self, resolution: int, x: torch.Tensor) -> torch.Tensor:
        key = str(resolution)
        x = F.leaky_relu(self.norms[key](self.convs[key](x)), D_LEAK)
        return F.avg_pool2d(x, 2)

    def forward(
        self,
        x: torch.Tensor,
        labels: torch.Tensor | None = None,
        resolution: int | None = None,
        alpha: float = 1.0,
    ) -> torch.Tensor:
        resolution = self.resolutions[level_of(self.resolutions, resolution, x)]
        final = self.resolutions[-1]
        if resolution == final:
            h = x
        else:  # the image in through fromRGB, as if the blocks above had run
            h = F.leaky_relu(self.from_rgb[str(resolution)](x), D_LEAK)
        if resolution > 4:
            h = self._block(resolution, h)
            if alpha < 1.0:
                skip = F.leaky_relu(self.from_rgb[str(resolution // 2)](F.avg_pool2d(x, 2)), D_LEAK)
                h = torch.lerp(skip, h, alpha)
            r = resolution // 2
            while r > 4:
                h = self._block(r, h)
                r //= 2
        if self.stddev is not None:
            h = self.stddev(h)
        return self.out(h.flatten(1)).squeeze(1)


def build(variant, info):
    """The mode-recovery experiment's G and D for square images of a power-of-two size."""
    if variant.conditional:
        raise ValueError(
            "architecture 'progan_mode' is unconditional; allowed: conditional = false"
        )
    channels, size = info.shape[0], info.shape[-1]
    fmaps = {"fmap_base": variant.fmap_base or 64, "fmap_max": variant.fmap_max}
    generator = ModeGenerator(
        variant.latent_dim, channels, size, equalized=variant.equalized, **fmaps
    )
    discriminator = ModeDiscriminator(
        channels,
        size,
        d_divisor=variant.d_divisor,
        equalized=variant.equalized,
        minibatch_stddev=variant.minibatch_stddev,
        **fmaps,
    )
    return generator, discriminator
