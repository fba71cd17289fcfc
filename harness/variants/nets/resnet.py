"""ResNet G/D with optional self-attention: the SNGAN/SAGAN/BigGAN family at 16–64 px.

- G (Miyato et al. 2018, App. B; Zhang et al. 2019): a linear layer to a 4×4 map of
  ``width`` channels, then up-blocks of ``width`` channels (BN → ReLU → 2× nearest upsample →
  3×3 conv → BN → ReLU → 3×3 conv, plus a 1×1 conv shortcut on the upsampled input), then
  BN → ReLU → 3×3 conv → tanh. 8, 16 and 32 px. When conditional, every
  BN is class-conditional: no affine parameters of its own, a gain 1 + Σₖ γₖ(yₖ) and a bias
  Σₖ βₖ(yₖ) summed over label factors, the embeddings initialised to zero (so training starts
  from plain BN). ``g_spectral`` wraps every G weight layer in spectral normalisation (SAGAN).
- D: an optimised first block (3×3 conv → ReLU → 3×3 conv → 2× average pool, shortcut pool →
  1×1 conv; its input layer never normalised), then blocks (ReLU → conv → ReLU → conv
  [→ pool], shortcut 1×1 conv [→ pool]) of ``d_width`` channels (``width`` when 0), pooling as
  SNGAN's 32-px D does (down, down, same, same; at 16 px down, down, same), ReLU, a global sum
  pool, a linear output and, when conditional, the projection term (Miyato & Koyama 2018). ``normalization`` wraps D's layers (spectral) or follows its
  hidden convolutions (batch, layer).
- ``attention`` (Zhang et al. 2019): a self-attention block at that feature size in G and in
  D: 1×1 convs give queries and keys with C/8 channels and values with C/2 (keys and values
  max-pooled 2×2), a softmax over key positions per query, a 1×1 conv back to C channels,
  and y = γ·o + x with γ a learned scalar that starts at 0 (so the block starts as the
  identity). 0 means no attention.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from harness.variants.nets.common import Projection, d_layer, d_norm, label_factors, split_labels
from harness.variants.nets.layout import RESNET_D_DOWNSAMPLE, check_layout, resnet_ups


class SelfAttention(nn.Module):
    """γ-gated self-attention over the positions of a feature map (Zhang et al. 2019)."""

    def __init__(self, channels: int, wrap=None) -> None:
        super().__init__()
        wrap = wrap or (lambda layer: layer)
        inner, values = max(1, channels // 8), max(1, channels // 2)
        self.query = wrap(nn.Conv2d(channels, inner, 1, bias=False))
        self.key = wrap(nn.Conv2d(channels, inner, 1, bias=False))
        self.value = wrap(nn.Conv2d(channels, values, 1, bias=False))
        self.out = wrap(nn.Conv2d(values, channels, 1, bias=False))
        self.gamma = nn.Parameter(torch.zeros(()))

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, query positions, key positions), each row a softmax over keys."""
        q = self.query(x).flatten(2)  # (b, c/8, n)
        k = F.max_pool2d(self.key(x), 2).flatten(2)  # (b, c/8, n/4)
        return torch.softmax(q.transpose(1, 2) @ k, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        attention = self.attention_map(x)
        v = F.max_pool2d(self.value(x), 2).flatten(2)  # (b, c/2, n/4)
        o = (v @ attention.transpose(1, 2)).view(b, -1, h, w)
        return self.gamma * self.out(o) + x


class ConditionalBatchNorm(nn.Module):
    """BN whose gain and bias come from the class label (one embedding per label factor,
    summed; zero-initialised so the gain starts at 1 and the bias at 0); plain affine BN when
    unconditional."""

    def __init__(self, features: int, factors: tuple[int, ...], conditional: bool) -> None:
        super().__init__()
        self.factors = tuple(factors)
        self.bn = nn.BatchNorm2d(features, affine=not conditional)
        self.gains = self.biases = None
        if conditional:
            self.gains = nn.ModuleList(nn.Embedding(f, features) for f in self.factors)
            self.biases = nn.ModuleList(nn.Embedding(f, features) for f in self.factors)
            for embed in [*self.gains, *self.biases]:
                nn.init.zeros_(embed.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        h = self.bn(x)
        if self.gains is None:
            return h
        parts = split_labels(labels, self.factors)
        gain = 1 + sum(e(p) for e, p in zip(self.gains, parts, strict=True))
        bias = sum(e(p) for e, p in zip(self.biases, parts, strict=True))
        return h * gain[:, :, None, None] + bias[:, :, None, None]


class LinearConditionalBatchNorm(nn.Module):
    """BigGAN's conditional BN: gain 1 + W_γ·c and bias W_β·c, linear in a conditioning
    vector c (the shared class embedding, and the block's chunk of z when hierarchical)."""

    def __init__(self, features: int, cond_dim: int, wrap) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(features, affine=False)
        self.gain = wrap(nn.Linear(cond_dim, features, bias=False))
        self.bias = wrap(nn.Linear(cond_dim, features, bias=False))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.bn(x)
        return h * (1 + self.gain(cond))[:, :, None, None] + self.bias(cond)[:, :, None, None]


class GBlock(nn.Module):
    """An up-block; ``cond_dim`` > 0 makes its BNs linear in a conditioning vector (BigGAN),
    else they are class-conditional (or plain) BNs on the label."""

    def __init__(self, in_ch, out_ch, factors, conditional, wrap, cond_dim: int = 0) -> None:
        super().__init__()

        def norm(features):
            if cond_dim:
                return LinearConditionalBatchNorm(features, cond_dim, wrap)
            return ConditionalBatchNorm(features, factors, conditional)

        self.bn1 = norm(in_ch)
        self.conv1 = wrap(nn.Conv2d(in_ch, out_ch, 3, 1, 1))
        self.bn2 = norm(out_ch)
        self.conv2 = wrap(nn.Conv2d(out_ch, out_ch, 3, 1, 1))
        self.shortcut = wrap(nn.Conv2d(in_ch, out_ch, 1))

    def forward(self, x: torch.Tensor, cond) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class ResNetGenerator(nn.Module):
    """4×4 → ``resolution`` in up-blocks of ``width`` channels (SNGAN's and StudioGAN's 32-px
    layout: G width 256 = 4 × g_conv_dim 64).

    BigGAN (Brock et al. 2019): ``shared_dim`` > 0 gives one class embedding shared by every
    block (summed over label factors), linearly projected to each BN's gain and bias;
    ``hierarchical`` splits z into one chunk per block plus one for the stem, and block k's
    BN sees [shared embedding, chunk k]."""

    def __init__(
        self,
        latent_dim,
        channels,
        resolution,
        width,
        factors,
        conditional,
        spectral,
        attention,
        shared_dim: int = 0,
        hierarchical: bool = False,
    ) -> None:
        super().__init__()
        check_layout("resnet", resolution, attention, latent_dim, hierarchical)

        def wrap(layer):
            return nn.utils.parametrizations.spectral_norm(layer) if spectral else layer

        ups = resnet_ups(resolution)
        self.conditional, self.width, self.factors = conditional, width, tuple(factors)
        self.hierarchical = hierarchical
        self.chunk = latent_dim // (ups + 1) if hierarchical else 0
        self.shared = None
        if shared_dim:
            self.shared = nn.ModuleList(nn.Embedding(f, shared_dim) for f in self.factors)
        cond_dim = shared_dim + self.chunk
        self.stem = wrap(nn.Linear(self.chunk or latent_dim, width * 16))
        self.blocks = nn.ModuleList()
        self.attend = nn.ModuleDict()
        size = 4
        for _ in range(ups):
            self.blocks.append(GBlock(width, width, factors, conditional, wrap, cond_dim))
            size *= 2
            if size == attention:
                self.attend[str(len(self.blocks) - 1)] = SelfAttention(width, wrap)
        self.bn = nn.BatchNorm2d(width)
        self.out = wrap(nn.Conv2d(width, channels, 3, 1, 1))

    def block_inputs(self, z: torch.Tensor, labels: torch.Tensor | None) -> tuple:
        """(the stem's input, each block's conditioning: labels, or a vector for BigGAN)."""
        labels = labels if self.conditional else None
        chunks = z.split(self.chunk, dim=1) if self.hierarchical else (z,)
        if self.shared is None and not self.hierarchical:
            return z, [labels] * len(self.blocks)
        parts = []
        if self.shared is not None:
            factors = split_labels(labels, self.factors)
            parts.append(sum(e(f) for e, f in zip(self.shared, factors, strict=True)))
        conds = [
            torch.cat([*parts, chunks[k + 1]], dim=1) if self.hierarchical else parts[0]
            for k in range(len(self.blocks))
        ]
        return chunks[0], conds

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        stem_input, conds = self.block_inputs(z, labels)
        h = self.stem(stem_input).view(len(z), self.width, 4, 4)
        for index, (block, cond) in enumerate(zip(self.blocks, conds, strict=True)):
            h = block(h, cond)
            if str(index) in self.attend:
                h = self.attend[str(index)](h)
        return torch.tanh(self.out(F.relu(self.bn(h))))


class DBlock(nn.Module):
    """A D residual block; ``first`` is the optimised input block (no activation before its
    first conv, which is D's unnormalised input layer)."""

    def __init__(self, in_ch, out_ch, normalization, downsample: bool, first: bool) -> None:
        super().__init__()
        self.first, self.downsample = first, downsample
        self.conv1 = d_layer(nn.Conv2d(in_ch, out_ch, 3, 1, 1), normalization)
        # D's input layer (the first block's first conv) is never normalised.
        self.norm1 = nn.Identity() if first else d_norm(normalization, out_ch, conv=True)
        self.conv2 = d_layer(nn.Conv2d(out_ch, out_ch, 3, 1, 1), normalization)
        self.norm2 = d_norm(normalization, out_ch, conv=True)
        self.shortcut = d_layer(nn.Conv2d(in_ch, out_ch, 1), normalization)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.norm1(self.conv1(h))))
        h = self.norm2(h)
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.first:
            skip = self.shortcut(F.avg_pool2d(x, 2) if self.downsample else x)
        else:
            skip = self.shortcut(x)
            skip = F.avg_pool2d(skip, 2) if self.downsample else skip
        return h + skip


class ResNetDiscriminator(nn.Module):
    """Blocks of ``width`` channels (StudioGAN's 32-px D: 128 = 2 × d_conv_dim 64) halving the
    map as ``RESNET_D_DOWNSAMPLE`` says, attention after the first block that reaches its size."""

    def __init__(
        self, channels, resolution, width, factors, conditional, normalization, attention
    ) -> None:
        super().__init__()
        check_layout("resnet", resolution, attention)
        layers, size, in_ch = nn.ModuleList(), resolution, channels
        for index, down in enumerate(RESNET_D_DOWNSAMPLE[resolution]):
            layers.append(DBlock(in_ch, width, normalization, down, first=index == 0))
            in_ch, size = width, size // 2 if down else size
            if down and size == attention:
                wrap = lambda layer: d_layer(layer, normalization)  # noqa: E731
                layers.append(SelfAttention(width, wrap))
        self.layers = layers
        self.out = d_layer(nn.Linear(width, 1), normalization)
        self.project = Projection(factors, width, normalization) if conditional else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = x
        for layer in self.layers:
            h = layer(h)
        h = F.relu(h).sum(dim=(2, 3))
        out = self.out(h).squeeze(1)
        if self.project is not None:
            out = out + self.project(h, labels)
        return out


def build(variant, info):
    """Build the ResNet pair for a resolved variant and an image dataset."""
    channels, resolution = info.shape[0], info.shape[-1]
    generator = ResNetGenerator(
        variant.latent_dim,
        channels,
        resolution,
        variant.width,
        label_factors(info),
        variant.conditional,
        variant.g_spectral,
        variant.attention,
        variant.shared_embedding,
        variant.hierarchical_z,
    )
    discriminator = ResNetDiscriminator(
        channels,
        resolution,
        variant.d_width or variant.width,
        label_factors(info),
        variant.conditional,
        variant.normalization,
        variant.attention,
    )
    return generator, discriminator
