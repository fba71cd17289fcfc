"""Layers of the progressive and style-based GANs (Karras et al. 2018, 2019), written from the
papers: the building blocks of ProGAN's nets (``harness.variants.nets.progan``) and of
StyleGAN's (``harness.variants.nets.stylegan``).

- ``EqualizedLinear`` / ``EqualizedConv2d`` (ProGAN §4.1, "equalized learning rate"): weights
  stored as draws of N(0, 1/lr_multiplier²), used scaled at run time by
  c = lr_multiplier · gain / √fan_in; so every layer's weights move at the same relative speed
  under Adam, and ``lr_multiplier`` (StyleGAN's mapping network: 0.01) scales a layer's
  effective learning rate by exactly that factor while keeping its effective initialisation.
- ``PixelNorm`` (ProGAN §4.2): each pixel's feature vector divided by its root mean square over
  the channels (ε = 1e-8).
- ``MinibatchStdDev`` (ProGAN §3): over groups of ``group_size`` samples, the standard deviation
  of every feature at every pixel, averaged to one number per group and appended to each of
  the group's samples as one more constant feature map.
- ``fade`` and ``fade_reals``: the lerp of a growth transition (α from 0 to 1) between the
  upsampled output of the lower resolution and that of the new one, and the same blend of
  the real images (2× average-pooled and upsampled by nearest neighbour at α = 0), so D never
  compares sharp reals with blurred fakes during a fade.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)


class _Equalized(nn.Module):
    def _init(self, shape: tuple[int, ...], fan_in: int, gain: float, lr_multiplier: float):
        if lr_multiplier <= 0:
            raise ValueError(f"lr_multiplier must be > 0, not {lr_multiplier}")
        self.weight = nn.Parameter(torch.randn(shape) / lr_multiplier)
        self.bias = nn.Parameter(torch.zeros(shape[0]))
        self.scale = lr_multiplier * gain / math.sqrt(fan_in)
        self.lr_multiplier = lr_multiplier

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.scale

    def effective_bias(self) -> torch.Tensor:
        return self.bias * self.lr_multiplier


class EqualizedLinear(_Equalized):
    def __init__(
        self, features_in: int, features_out: int, gain: float = SQRT2, lr_multiplier: float = 1.0
    ):
        super().__init__()
        self._init((features_out, features_in), features_in, gain, lr_multiplier)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight(), self.effective_bias())


class EqualizedConv2d(_Equalized):
    """A stride-1 convolution with 'same' padding and an equalised learning rate."""

    def __init__(
        self,
        channels_in: int,
        channels_out: int,
        kernel: int,
        gain: float = SQRT2,
        lr_multiplier: float = 1.0,
    ):
        super().__init__()
        shape = (channels_out, channels_in, kernel, kernel)
        self._init(shape, channels_in * kernel * kernel, gain, lr_multiplier)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight(), self.effective_bias(), padding=self.padding)


class PixelNorm(nn.Module):
    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Appends one feature map: per group of ``group_size`` samples (the whole batch when it
    is smaller; sample i is in group i mod n/group_size), the features' standard deviation
    over the group, averaged over features and pixels."""

    def __init__(self, group_size: int = 4, eps: float = 1e-8) -> None:
        super().__init__()
        self.group_size, self.eps = group_size, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = min(self.group_size, n)
        if n % group:
            raise ValueError(f"batch of {n} is not divisible by the stddev group size {group}")
        grouped = x.reshape(group, n // group, c, h, w)  # sample i is in group i mod (n/group)
        std = (grouped.var(dim=0, unbiased=False) + self.eps).sqrt()  # (n/group, c, h, w)
        per_group = std.mean(dim=(1, 2, 3))  # (n/group,)
        feature = per_group.repeat(group).reshape(n, 1, 1, 1).expand(n, 1, h, w)
        return torch.cat([x, feature], dim=1)


def fade(low: torch.Tensor, high: torch.Tensor, alpha: float) -> torch.Tensor:
    """A growth transition's output: ``low`` (at half the resolution) upsampled by nearest
    neighbour, blended into ``high`` as α goes from 0 (all ``low``) to 1 (all ``high``)."""
    return torch.lerp(F.interpolate(low, scale_factor=2, mode="nearest"), high, alpha)


def fade_reals(reals: torch.Tensor, alpha: float) -> torch.Tensor:
    """Real images as D sees them during a transition to their resolution: at α = 0 their 2×
    average-pooled version, upsampled again by nearest neighbour; at α = 1 themselves."""
    return fade(F.avg_pool2d(reals, 2), reals, alpha)
