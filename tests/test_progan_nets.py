"""ProGAN's growing nets (variant-zoo reference §4.1, §4.4): fading in G and D, pixel norm in
G, the minibatch-stddev map in D."""

import pytest
import torch
import torch.nn.functional as F

from harness.variants.nets.progan import ProDiscriminator, ProGenerator


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return ProGenerator(16, 1, 16, 8), ProDiscriminator(1, 16, 8)


def test_g_at_alpha_zero_is_the_upsampled_lower_resolution_and_grows_to_the_new_one(nets):
    G, _ = nets
    z = torch.randn(4, 16)
    with torch.no_grad():
        for low, high in ((4, 8), (8, 16)):
            below = G(z, resolution=low)
            assert torch.equal(
                G(z, resolution=high, alpha=0.0),
                below.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3),
            )
            new = G(z, resolution=high)
            assert new.shape == (4, 1, high, high)
            halfway = G(z, resolution=high, alpha=0.5)
            blend = 0.5 * G(z, resolution=high, alpha=0.0) + 0.5 * new
            assert torch.allclose(halfway, blend, atol=1e-6)
            assert not torch.allclose(new, G(z, resolution=high, alpha=0.0))


def test_g_normalises_every_pixels_features(nets):
    G, _ = nets
    with torch.no_grad():
        for maps in G.features(torch.randn(3, 16) * 5, 16):
            assert torch.allclose(maps.square().mean(dim=1), torch.ones_like(maps[:, 0]), atol=1e-4)


def test_d_at_alpha_zero_judges_the_pooled_image_as_the_lower_resolution_d(nets):
    _, D = nets
    x = torch.randn(8, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(D(x, resolution=16, alpha=0.0), D(F.avg_pool2d(x, 2), resolution=8))
        assert D(x).shape == (8,)
        assert not torch.allclose(D(x, resolution=16, alpha=1.0), D(x, resolution=16, alpha=0.0))
    assert D.last_conv.weight.shape[1] == 8 + 1  # the stddev map is one more input feature
    with pytest.raises(ValueError, match="px at resolution"):
        D(x, resolution=8)


def test_the_papers_feature_maps_halve_per_resolution_up_to_their_cap():
    from harness.variants.nets.progan import feature_maps

    # ProGAN's CIFAR-10 nets: fmap_base 4096, fmap_max 512 → 512 to 16 px, 256 at 32 px.
    maps = feature_maps([4, 8, 16, 32], 7, fmap_base=4096, fmap_max=512)
    assert maps == {0: 512, 4: 512, 8: 512, 16: 512, 32: 256}
    assert feature_maps([4, 8], 7) == {0: 7, 4: 7, 8: 7}  # no fmap_base: width throughout
    G = ProGenerator(8, 3, 32, 7, fmap_base=256, fmap_max=64)  # 64, 64, 32, 16 channels
    D = ProDiscriminator(3, 32, 7, fmap_base=256, fmap_max=64)
    assert [rgb.weight.shape[1] for rgb in G.to_rgb] == [64, 64, 32, 16]
    assert [rgb.weight.shape[0] for rgb in D.from_rgb] == [64, 64, 32, 16]
    with torch.no_grad():
        for resolution in (4, 8, 16, 32):
            images = G(torch.randn(4, 8), resolution=resolution, alpha=0.5)
            assert images.shape == (4, 3, resolution, resolution)
            assert D(images, resolution=resolution, alpha=0.5).shape == (4,)


def test_a_gradient_penalty_with_target_norm_is_its_closed_form():
    from harness.variants.penalties import gradient_penalty

    weight = torch.randn(1, 2, 3, 3)

    def D(x, labels=None):  # linear: the gradient is the weight everywhere
        return (x * weight).flatten(1).sum(1)

    real, fake = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    norm = weight.norm().item()
    generator = torch.Generator().manual_seed(0)
    assert gradient_penalty(D, real, fake, None, generator).item() == pytest.approx(
        (norm - 1) ** 2, rel=1e-5
    )
    value = gradient_penalty(D, real, fake, None, generator, penalty_target=750.0).item()
    assert value == pytest.approx(((norm - 750) / 750) ** 2, rel=1e-5)
