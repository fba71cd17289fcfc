"""Image-translation nets, written from the papers: pix2pix's U-Net generator and PatchGAN
discriminator (Isola et al. 2017, §3.2 and App. 6.1), and CycleGAN's ResNet generator (Zhu et
al. 2017, App. 7.2, after Johnson et al. 2016).

- **U-Net** (``depth`` levels, base width ``width``): encoder convs 4×4 stride 2, LeakyReLU
  0.2, no norm on the first layer nor on the innermost (1×1 at full depth); decoder
  transposed convs 4×4 stride 2 with ReLU, each fed the mirrored encoder output
  concatenated on channels (the skips), norm on all but the outermost, tanh out. Widths
  ``width·min(2^i, 8)`` (C64-C128-C256-C512-C512…). ``dropout`` > 0 drops units of the
  ``dropout_layers`` innermost decoder layers (the paper: three of eight) at training **and**
  test time: pix2pix's only source of noise (its G takes no z).
- **PatchGAN** on ``in_channels`` (pix2pix: source and target concatenated; CycleGAN: the
  target alone): with ``kernel = 4`` the paper's C64-C128-…: ``layers`` convs 4×4 stride 2
  (no norm on the first), one 4×4 stride-1 conv with norm, and a 4×4 stride-1 conv to one
  logit per patch; receptive fields 16, 34, 70 for 1, 2, 3 layers (70×70 is the paper's
  default). With ``kernel = 3`` (images of 8 or 16 px, where even 16×16 patches are the
  whole image): ``layers`` 3×3 stride-1 convs and a 1×1 conv, receptive field 2·layers + 1.
  ``receptive_field`` computes it from the layers actually built.
- **ResNet translator** (CycleGAN): a 7×7 conv (3×3 when ``kernel = 3``), ``downsamplings``
  stride-2 convs doubling the width, ``blocks`` residual blocks, as many transposed convs
  back, and a final conv with tanh; reflection padding, norm and ReLU throughout.

``norm`` is ``instance`` (affine, no running statistics: the same at training and test, and
what batch norm at batch 1 is) or ``batch``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm '{norm}'; allowed: instance, batch, none")


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) weights and zero biases; norm scales N(1, 0.02) (pix2pix, CycleGAN)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.InstanceNorm2d) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class NoiseDropout(nn.Module):
    """Dropout that stays on in evaluation: pix2pix's noise (its G has no latent input)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.p, training=True) if self.p > 0 else x


class UNet(nn.Module):
    """U-Net G: ``forward(source, labels=None)`` → target-shaped image in [-1, 1]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        depth: int,
        width: int,
        norm: str,
        dropout: float,
        dropout_layers: int = 3,
    ) -> None:
        super().__init__()
        widths = [width * min(2**i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        previous = in_channels
        for i, w in enumerate(widths):
            innermost, outermost = i == depth - 1, i == 0
            self.down.append(
                nn.Sequential(
                    nn.Identity() if outermost else nn.LeakyReLU(0.2),
                    nn.Conv2d(previous, w, 4, 2, 1, bias=outermost or innermost or norm != "batch"),
                    nn.Identity() if outermost or innermost else norm_layer(norm, w),
                )
            )
            previous = w
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            innermost, outermost = i == depth - 1, i == 0
            fed = widths[i] * (1 if innermost else 2)  # the skip doubles all but the innermost
            out = out_channels if outermost else widths[i - 1]
            layers: list[nn.Module] = [
                nn.ReLU(),
                nn.ConvTranspose2d(fed, out, 4, 2, 1, bias=outermost or norm != "batch"),
            ]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(norm_layer(norm, out))
                if depth - 1 - i < dropout_layers:  # the innermost decoder layers
                    layers.append(NoiseDropout(dropout))
            self.up.append(nn.Sequential(*layers))
        init_weights(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, skip_scale=1.0):
        """``skip_scale`` multiplies every skip tensor (0 cuts them: a test hook)."""
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = skips.pop()
        for i, layer in enumerate(self.up):
            if i > 0:
                x = torch.cat([x, skip_scale * skips.pop()], dim=1)
            x = layer(x)
        return x


class PatchGAN(nn.Module):
    """PatchGAN D: ``forward(image)`` → one logit per patch (N×1×H′×W′)."""

    def __init__(self, in_channels: int, width: int, layers: int, kernel: int, norm: str) -> None:
        super().__init__()
        modules: list[nn.Module] = []
        if kernel == 4:
            previous = in_channels
            for i in range(layers + 1):  # `layers` stride-2 convs, then one stride-1
                w = width * min(2**i, 8)
                stride = 2 if i < layers else 1
                modules += [nn.Conv2d(previous, w, 4, stride, 1, bias=i == 0 or norm != "batch")]
                if i > 0:
                    modules.append(norm_layer(norm, w))
                modules.append(nn.LeakyReLU(0.2))
                previous = w
            modules.append(nn.Conv2d(previous, 1, 4, 1, 1))
        elif kernel == 3:
            previous = in_channels
            for i in range(layers):
                w = width * min(2**i, 8)
                modules += [nn.Conv2d(previous, w, 3, 1, 1, bias=i == 0 or norm != "batch")]
                if i > 0:
                    modules.append(norm_layer(norm, w))
                modules.append(nn.LeakyReLU(0.2))
                previous = w
            modules.append(nn.Conv2d(previous, 1, 1))
        else:
            raise ValueError(f"PatchGAN kernel {kernel}; allowed: 3 or 4")
        self.net = nn.Sequential(*modules)
        init_weights(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)

    def receptive_field(self) -> int:
        """The side of the input square one output logit sees, from the convs built."""
        field, jump = 1, 1
        for m in self.net:
            if isinstance(m, nn.Conv2d):
                field += (m.kernel_size[0] - 1) * jump
                jump *= m.stride[0]
        return field


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, norm: str) -> None:
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.ReflectionPad2d(pad),
            nn.Conv2d(channels, channels, kernel, bias=norm != "batch"),
            norm_layer(norm, channels),
            nn.ReLU(),
            nn.ReflectionPad2d(pad),
            nn.Conv2d(channels, channels, kernel, bias=norm != "batch"),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetTranslator(nn.Module):
    """CycleGAN's G: ``forward(source, labels=None)`` → image in [-1, 1] of the same size."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int,
        downsamplings: int,
        blocks: int,
        kernel: int,
        norm: str,
    ) -> None:
        super().__init__()
        outer = 7 if kernel == 4 else 3  # c7s1 in the paper; 3×3 on 8-px images
        bias = norm != "batch"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(outer // 2),
            nn.Conv2d(in_channels, width, outer, bias=bias),
            norm_layer(norm, width),
            nn.ReLU(),
        ]
        w = width
        for _ in range(downsamplings):
            layers += [nn.Conv2d(w, 2 * w, 3, 2, 1, bias=bias), norm_layer(norm, 2 * w), nn.ReLU()]
            w *= 2
        layers += [ResidualBlock(w, 3, norm) for _ in range(blocks)]
        for _ in range(downsamplings):
            layers += [
                nn.ConvTranspose2d(w, w // 2, 3, 2, 1, output_padding=1, bias=bias),
                norm_layer(norm, w // 2),
                nn.ReLU(),
            ]
            w //= 2
        layers += [nn.ReflectionPad2d(outer // 2), nn.Conv2d(w, out_channels, outer), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


def build_unet(spec, info):
    """pix2pix: U-Net G from source to target, PatchGAN D on (source, target) pairs."""
    source = info.source_shape[0]
    target = info.shape[0]
    generator = UNet(
        source, target, spec.depth, spec.width, spec.norm_layer, spec.dropout, spec.dropout_layers
    )
    discriminator = PatchGAN(
        source + target, spec.d_width or spec.width, spec.d_layers, spec.kernel, spec.norm_layer
    )
    return generator, discriminator


def build_resnet_translator(spec, info):
    """CycleGAN: the ResNet translator from source to target and a PatchGAN D on targets."""
    source, target = info.source_shape[0], info.shape[0]
    generator = ResnetTranslator(
        source, target, spec.width, spec.downsamplings, spec.blocks, spec.kernel, spec.norm_layer
    )
    discriminator = PatchGAN(
        target, spec.d_width or spec.width, spec.d_layers, spec.kernel, spec.norm_layer
    )
    return generator, discriminator
