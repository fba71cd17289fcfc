"""The ProGAN/StyleGAN building blocks against their definitions (variant-zoo reference §4.1,
§5.1): equalised learning rate, pixel norm, minibatch standard deviation, fading."""

import math

import pytest
import torch
import torch.nn.functional as F

from harness.variants.nets.karras import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    fade,
    fade_reals,
)


def test_equalised_layers_scale_unit_normal_weights_by_gain_over_root_fan_in():
    torch.manual_seed(0)
    conv = EqualizedConv2d(16, 32, 3)
    assert conv.scale == pytest.approx(math.sqrt(2) / math.sqrt(16 * 9))
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.05)  # stored N(0, 1)
    x = torch.randn(2, 16, 5, 5)
    expected = F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1)
    assert torch.allclose(conv(x), expected)
    linear = EqualizedLinear(64, 8, gain=1.0)
    assert linear.scale == pytest.approx(1 / 8)
    z = torch.randn(3, 64)
    assert torch.allclose(linear(z), z @ (linear.weight / 8).T)


def test_an_lr_multiplier_keeps_the_initialisation_and_scales_the_effective_learning_rate():
    torch.manual_seed(0)
    base, mapping = EqualizedLinear(32, 32), EqualizedLinear(32, 32, lr_multiplier=0.01)
    # The effective weights start alike: N(0, 1/0.01²) scaled by 0.01·√2/√32.
    assert base.effective_weight().std().item() == pytest.approx(
        mapping.effective_weight().std().item(), rel=0.1
    )
    x = torch.randn(64, 32)
    moves = []
    for layer in (base, mapping):
        before = layer.effective_weight().detach().clone()
        optimizer = torch.optim.Adam(layer.parameters(), lr=1e-3)
        layer(x).square().mean().backward()
        optimizer.step()
        moves.append((layer.effective_weight().detach() - before).abs().mean().item())
    # Adam's first step moves each stored weight by lr, so the effective one by lr · scale.
    assert moves[1] / moves[0] == pytest.approx(0.01, rel=1e-3)


def test_pixel_norm_gives_every_pixel_unit_feature_norm():
    x = torch.randn(4, 12, 3, 3) * (0.5 + torch.rand(4, 1, 3, 3)) * 10  # norms well above ε
    y = PixelNorm()(x)
    assert torch.allclose(y.square().mean(dim=1), torch.ones(4, 3, 3), atol=1e-5)
    assert torch.allclose(F.normalize(y, dim=1), F.normalize(x, dim=1), atol=1e-6)


def test_minibatch_stddev_adds_one_feature_map_of_each_groups_mean_std():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4)
    y = MinibatchStdDev(group_size=4)(x)
    assert y.shape == (8, 4, 4, 4) and torch.equal(y[:, :3], x)
    for member in range(2):  # two groups: samples {0, 2, 4, 6} and {1, 3, 5, 7}
        group = x[member::2]
        expected = group.std(dim=0, unbiased=False).mean()
        assert torch.allclose(y[member::2, 3], expected.expand(4, 4, 4), atol=1e-5)
    same = MinibatchStdDev(group_size=4)(torch.ones(4, 2, 2, 2))
    assert same[:, 2].abs().max() < 1e-3  # identical samples: no spread
    with pytest.raises(ValueError, match="not divisible"):
        MinibatchStdDev(group_size=4)(torch.randn(6, 1, 2, 2))


def test_fading_starts_at_the_upsampled_low_resolution_and_ends_at_the_new_one():
    low, high = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 8, 8)
    upsampled = low.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.equal(fade(low, high, 0.0), upsampled)
    assert torch.equal(fade(low, high, 1.0), high)
    assert torch.allclose(fade(low, high, 0.25), 0.75 * upsampled + 0.25 * high)
    reals = torch.randn(2, 1, 8, 8)
    pooled = reals.reshape(2, 1, 4, 2, 4, 2).mean(dim=(3, 5))
    blurred = pooled.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.allclose(fade_reals(reals, 0.0), blurred)
    assert torch.equal(fade_reals(reals, 1.0), reals)


def test_the_growth_schedule_fades_each_resolution_in_linearly_then_stabilises_it():
    from harness.recipes.growing import GrowthSchedule

    schedule = GrowthSchedule(start=4, final=16, stabilise_images=1000, fade_images=500)
    assert schedule.growth_images() == [1000, 2500]
    assert schedule.at(0) == (4, 1.0) and schedule.at(999) == (4, 1.0)
    alphas = [schedule.at(1000 + i)[1] for i in range(0, 500, 50)]
    assert [schedule.at(1000 + i)[0] for i in range(0, 500, 50)] == [8] * 10
    assert alphas == pytest.approx([i / 10 for i in range(10)])  # linear from 0
    assert schedule.at(1500) == (8, 1.0) and schedule.at(2499) == (8, 1.0)
    assert schedule.at(2500) == (16, 0.0) and schedule.at(2750) == (16, 0.5)
    assert schedule.at(3000) == (16, 1.0) and schedule.at(10**9) == (16, 1.0)
    with pytest.raises(ValueError, match="power of two"):
        GrowthSchedule(start=4, final=24, stabilise_images=1, fade_images=1)
