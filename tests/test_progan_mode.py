"""The nets of ProGAN's mode-recovery experiment (App. E) and its ablation switches, the
no-growing control, and MNIST-RGB's 2-px padding."""

import pytest
import torch
import torch.nn.functional as F
from conftest import make_cell, write_mnist

from harness.data import load_dataset
from harness.evaluate.evaluator import Evaluator
from harness.train.loop import Trainer
from harness.variants.nets.karras import EqualizedConv2d
from harness.variants.nets.progan_mode import ModeDiscriminator, ModeGenerator


def test_the_crippled_nets_have_the_experiments_channels():
    """fmap_base 64 at 32 px: G 64 (4×4), 32, 16, 8; D's the same divided by K = 4."""
    G = ModeGenerator(64, 3, 32)
    D = ModeDiscriminator(3, 32, d_divisor=4)
    assert G.maps == [64, 32, 16, 8]
    assert D.maps == {8: 8, 16: 4, 32: 2}
    assert [conv.weight.shape[0] for conv in G.convs] == [32, 16, 8]
    assert D.convs["32"].weight.shape[:2] == (2, 3)  # the top block reads the image itself
    assert D.out.weight.shape == (1, (8 + 1) * 16)  # the stddev map, then 4×4 maps
    plain = ModeDiscriminator(3, 32, d_divisor=4, minibatch_stddev=False)
    assert plain.out.weight.shape == (1, 8 * 16)


@pytest.mark.parametrize("equalized", [True, False])
def test_fading_in_g_and_d_starts_from_the_lower_resolution(equalized):
    torch.manual_seed(0)
    G = ModeGenerator(16, 3, 16, equalized=equalized).eval()
    D = ModeDiscriminator(3, 16, d_divisor=4, equalized=equalized).eval()
    z, x = torch.randn(8, 16), torch.rand(8, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        low = G(z, resolution=8)
        assert torch.equal(G(z, resolution=16, alpha=0.0), F.interpolate(low, scale_factor=2))
        assert not torch.equal(G(z, resolution=16, alpha=0.5), G(z, resolution=16, alpha=0.0))
        pooled = F.avg_pool2d(x, 2)
        assert torch.equal(D(x, resolution=16, alpha=0.0), D(pooled, resolution=8))
    norms = [type(m).__name__ for m in [*G.modules(), *D.modules()]]
    assert ("BatchNorm2d" in norms) != equalized  # the baseline's batch norm, or none
    assert any(isinstance(m, EqualizedConv2d) for m in G.modules()) == equalized


def test_the_no_growing_control_trains_at_the_final_resolution_from_the_start(tmp_path):
    axes = {"batch_size": 8, "d_steps": 1, "stabilise_kimg": 0.0, "fade_kimg": 0.0}
    cell = make_cell("progan_mnist1k", "stacked_digits", {"resolution": 16}, **axes)
    data = load_dataset(cell.dataset, cell.dataset_params)
    cpu = torch.device("cpu")
    trainer = Trainer(cell, data, cpu, Evaluator(cell.evaluation, data, cpu), tmp_path)
    assert trainer.recipe.schedule is None and trainer.recipe.stage() == (16, 1.0)
    stats = trainer.step()
    assert stats["resolution"].item() == 16.0 and torch.isfinite(stats["loss_d"])


def test_mnist_rgb_is_padded_by_two_pixels_of_background(tmp_path):
    write_mnist(tmp_path, 20, 10)
    plain = load_dataset("stacked_mnist", {"root": str(tmp_path), "size": 6, "test_size": 4})
    padded = load_dataset(
        "stacked_mnist", {"root": str(tmp_path), "size": 6, "test_size": 4, "pad": 2}
    )
    assert padded.train_x.shape == (6, 3, 32, 32)
    assert torch.equal(padded.train_x[..., 2:30, 2:30], plain.train_x)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (padded.train_x[..., border] == -1).all()
