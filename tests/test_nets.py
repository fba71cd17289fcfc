"""The discriminator's axes do what they say, on every architecture and dataset kind.

Parametrized over the registries: a new architecture or normalisation is tested by being
registered. Two defects these guard against were real: batch norm on D's input layer (which
cancels any affine change of the fake batch) and an 8×8 D with no hidden layer to normalise.
"""

import pytest
import torch
from torch import nn

from harness.data import DatasetInfo
from harness.variants import ARCHITECTURES, NORMALIZATIONS
from harness.variants.nets.common import discriminate, split_labels

POINTS = DatasetInfo("ring8", "points", (2,), 8)
STACKED = DatasetInfo("stacked_digits", "images", (3, 8, 8), 1000, label_factors=(10, 10, 10))
# (architecture, dataset info) pairs covering every kind and every conv resolution.
SHAPES = (
    [("mlp", POINTS), ("mlp", DatasetInfo("digits", "images", (1, 8, 8), 10))]
    + [("dcgan", DatasetInfo("digits", "images", (1, r, r), 10)) for r in (8, 16, 28, 32, 64)]
    + [("resnet", DatasetInfo("digits", "images", (1, r, r), 10)) for r in (8, 16, 32)]
)
IDS = [f"{arch}-{info.kind}-{info.shape[-1]}" for arch, info in SHAPES]


def build_d(architecture, info, normalization, conditional=False, width=16):
    from harness.config import VariantSpec

    spec = VariantSpec(
        preset="gan",
        architecture=architecture,
        normalization=normalization,
        conditional=conditional,
        width=width,
        latent_dim=8,
    )
    torch.manual_seed(0)
    return ARCHITECTURES.get(architecture)(spec, info)


def structure(module: nn.Module) -> list[str]:
    return [type(m).__name__ for m in module.modules()]


@pytest.mark.parametrize(("architecture", "info"), SHAPES, ids=IDS)
def test_every_normalization_changes_d(architecture, info):
    built = {n: build_d(architecture, info, n)[1] for n in NORMALIZATIONS.names()}
    layouts = {n: tuple(structure(d)) for n, d in built.items()}
    assert len(set(layouts.values())) == len(layouts), layouts


@pytest.mark.parametrize(("architecture", "info"), SHAPES, ids=IDS)
def test_spectral_norm_wraps_every_weight_layer_of_d(architecture, info):
    _, discriminator = build_d(architecture, info, "spectral", conditional=True)
    weighted = [
        m for m in discriminator.modules() if isinstance(m, nn.Linear | nn.Conv2d | nn.Embedding)
    ]
    assert weighted
    assert all(nn.utils.parametrize.is_parametrized(m, "weight") for m in weighted)


@pytest.mark.parametrize(("architecture", "info"), SHAPES, ids=IDS)
@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_d_input_layer_is_not_normalised(architecture, info, normalization):
    _, discriminator = build_d(architecture, info, normalization)
    layers = [
        type(m).__name__
        for m in discriminator.modules()
        if isinstance(m, nn.Linear | nn.Conv2d | nn.BatchNorm1d | nn.BatchNorm2d)
        or isinstance(m, nn.LayerNorm | nn.GroupNorm)
    ]
    assert layers[0] in ("Linear", "Conv2d") and layers[1] in ("Linear", "Conv2d"), layers
    assert any("Norm" in name for name in layers), layers


def _separability(architecture, info, normalization, real: torch.Tensor, fake: torch.Tensor):
    """Train D alone for 150 steps (non-saturating loss, batches shown as training shows
    them) and return how often it ranks a real sample above a fake one."""
    _, discriminator = build_d(architecture, info, normalization, width=32)
    optimizer = torch.optim.Adam(discriminator.parameters(), 2e-3, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(1)
    for _ in range(150):
        index = torch.randint(len(real), (64,), generator=generator)
        d_real, d_fake = discriminate(discriminator, real[index], fake[index])
        loss = nn.functional.softplus(-d_real).mean() + nn.functional.softplus(d_fake).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        index = torch.arange(256)
        d_real, d_fake = discriminate(discriminator, real[index], fake[index])
    return float((d_real[:, None] > d_fake[None, :]).double().mean())


@pytest.mark.parametrize("normalization", NORMALIZATIONS.names())
def test_d_sees_a_shifted_and_scaled_fake_point_batch(normalization):
    """Fake = the real ring shrunk to a tenth and moved: a per-feature affine change, which a
    normalised input layer would cancel exactly (D would then score ~50%)."""
    from harness.data import load_dataset

    real = load_dataset("ring8", {"size": 2000, "test_size": 10}).train_x
    fake = 0.1 * real + torch.tensor([0.5, -0.3])
    assert _separability("mlp", POINTS, normalization, real, fake) > 0.9


@pytest.mark.parametrize("normalization", NORMALIZATIONS.names())
def test_d_sees_a_shifted_and_scaled_fake_image_batch(normalization):
    from harness.data import load_dataset

    real = load_dataset("digits", {}).train_x
    fake = 0.5 * real - 0.4
    info = DatasetInfo("digits", "images", (1, 8, 8), 10)
    assert _separability("dcgan", info, normalization, real, fake) > 0.9


def test_stacked_labels_are_split_into_their_digits():
    labels = torch.tensor([0, 7, 42, 999, 305])
    digits = split_labels(labels, (10, 10, 10))
    assert [d.tolist() for d in digits] == [[0, 0, 0, 9, 3], [0, 0, 4, 9, 0], [0, 7, 2, 9, 5]]


def test_conditional_nets_embed_each_digit_of_a_stacked_label():
    generator, discriminator = build_d("dcgan", STACKED, "batch", conditional=True)
    embeddings = [m for m in discriminator.modules() if isinstance(m, nn.Embedding)]
    assert [m.num_embeddings for m in embeddings] == [10, 10, 10]
    assert [m.num_embeddings for m in generator.modules() if isinstance(m, nn.Embedding)] == [
        10,
        10,
        10,
    ]
    out = discriminator(torch.zeros(4, 3, 8, 8), torch.tensor([0, 1, 10, 100]))
    assert out.shape == (4,) and torch.isfinite(out).all()


def test_batch_norm_normalises_the_fake_batch_with_the_real_statistics():
    """A collapsed fake batch keeps its location: shifting it shifts D's hidden features."""
    _, discriminator = build_d("mlp", POINTS, "batch")
    real = torch.randn(64, 2)
    blob = 0.01 * torch.randn(64, 2)
    with torch.no_grad():
        _, here = discriminate(discriminator, real, blob)
        _, there = discriminate(discriminator, real, blob + torch.tensor([3.0, -3.0]))
        alone_here, alone_there = discriminator(blob), discriminator(blob + 3.0)

    def separation(a, b):  # distance of the means in units of the outputs' spread
        return float((a.mean() - b.mean()).abs() / (a.std() + b.std()))

    assert separation(here, there) > 10 * max(separation(alone_here, alone_there), 0.1)
