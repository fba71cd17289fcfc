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
