"""StyleGAN's building blocks against the mechanism checks of the variant-zoo reference (§5)."""

import pytest
import torch

from harness.variants.nets.stylegan_layers import (
    AdaIN,
    ConstantInput,
    MappingNetwork,
    NoiseInjection,
    mixing_cutoff,
    truncate,
)


def test_the_synthesis_input_is_one_learned_constant_whatever_the_latent():
    constant = ConstantInput(8)
    x = constant(5)
    assert x.shape == (5, 8, 4, 4) and torch.equal(x[0], x[4])
    assert x.requires_grad  # learned


def test_noise_with_zero_weights_changes_nothing_and_scales_per_channel():
    torch.manual_seed(0)
    noise = NoiseInjection(3)
    x, n = torch.randn(2, 3, 4, 4), torch.randn(2, 1, 4, 4)
    assert torch.equal(noise(x, n), x)  # the weights start at 0
    with torch.no_grad():
        noise.weight.copy_(torch.tensor([0.0, 1.0, 2.0]))
    out = noise(x, n)
    assert torch.equal(out[:, 0], x[:, 0])
    assert torch.allclose(out[:, 2] - x[:, 2], 2 * n[:, 0])


def test_adain_sets_each_channels_statistics_from_the_style():
    torch.manual_seed(0)
    adain = AdaIN(4, 6)
    x, w = torch.randn(3, 4, 5, 5) * 7 + 3, torch.randn(3, 6)
    out = adain(x, w)
    scale, bias = adain.style(w).chunk(2, dim=1)
    assert torch.allclose(out.mean(dim=(2, 3)), bias, atol=1e-5)
    assert torch.allclose(out.std(dim=(2, 3), unbiased=False), (1 + scale).abs(), atol=1e-4)


def test_mixing_happens_at_probability_p_with_a_uniform_crossover():
    generator = torch.Generator().manual_seed(0)
    layers, draws = 8, 20000
    cutoffs = torch.tensor([mixing_cutoff(layers, 0.9, generator) for _ in range(draws)])
    mixed = cutoffs < layers
    assert mixed.float().mean().item() == pytest.approx(0.9, abs=0.01)
    counts = torch.bincount(cutoffs[mixed], minlength=layers)[1:layers].float()
    assert counts.min() / counts.max() > 0.9  # 1 .. layers − 1, equally often
    assert (cutoffs[mixed] >= 1).all()
    assert all(mixing_cutoff(layers, 0.0, generator) == layers for _ in range(100))


def test_truncation_at_psi_one_is_the_identity_and_pulls_only_cut_layers():
    w, w_avg = torch.randn(4, 6, 5), torch.randn(5)
    assert torch.equal(truncate(w, w_avg, 1.0), w)
    half = truncate(w, w_avg, 0.5, cutoff=2)
    assert torch.allclose(half[:, :2], w_avg + 0.5 * (w[:, :2] - w_avg))
    assert torch.equal(half[:, 2:], w[:, 2:])
    assert torch.allclose(truncate(w, w_avg, 0.0), w_avg.expand_as(w))


def test_the_mapping_layers_learn_at_the_multiplier_times_the_rate():
    torch.manual_seed(0)
    slow, fast = MappingNetwork(8, 8, 2, lr_multiplier=0.01), MappingNetwork(8, 8, 2, 1.0)
    z = torch.randn(32, 8)
    moves = []
    for net in (slow, fast):
        before = [layer.effective_weight().detach().clone() for layer in net.layers]
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        net(z).square().mean().backward()
        optimizer.step()
        after = [layer.effective_weight().detach() for layer in net.layers]
        moves.append(sum((a - b).abs().mean().item() for a, b in zip(after, before, strict=True)))
    assert moves[0] / moves[1] == pytest.approx(0.01, rel=0.01)
