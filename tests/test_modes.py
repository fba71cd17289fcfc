"""2-D mode metrics pinned against closed forms."""

import math

import pytest
import torch

from harness.data import load_dataset
from harness.evaluate import METRICS
from harness.evaluate.evaluator import EvalContext

RING = load_dataset("ring8", {"size": 100, "test_size": 100})


def scores(samples):
    context = EvalContext(samples, None, RING)
    return {
        name: METRICS.get(name)(context)
        for name in ("modes_covered", "high_quality_fraction", "reverse_kl")
    }


def test_a_generator_uniform_over_modes_covers_all_with_zero_kl():
    centres = torch.tensor(RING.info.mode_centres, dtype=torch.float32)
    samples = centres.repeat(100, 1) + 0.01 * torch.randn(
        800, 2, generator=torch.Generator().manual_seed(0)
    )
    result = scores(samples)
    assert result["modes_covered"] == 8
    assert result["high_quality_fraction"] == 1.0
    assert result["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_a_collapsed_generator_covers_one_mode_with_kl_log_k():
    centre = torch.tensor(RING.info.mode_centres[3])
    result = scores(centre.repeat(500, 1))
    assert result["modes_covered"] == 1
    assert result["reverse_kl"] == pytest.approx(math.log(8))


def test_samples_beyond_three_std_are_not_high_quality():
    centre = torch.tensor(RING.info.mode_centres[0])
    near = centre + torch.tensor([2.9 * RING.info.mode_std, 0.0])
    far = centre + torch.tensor([3.1 * RING.info.mode_std, 0.0])
    assert scores(torch.stack([near, far]))["high_quality_fraction"] == 0.5
    result = scores(far.unsqueeze(0))
    assert result["modes_covered"] == 0
    assert result["reverse_kl"] is None  # undefined without high-quality samples, never faked


def test_two_equal_modes_have_kl_log_k_over_two():
    centres = torch.tensor(RING.info.mode_centres[:2])
    assert scores(centres.repeat(50, 1))["reverse_kl"] == pytest.approx(math.log(4))


def test_metrics_declare_their_direction():
    assert METRICS.meta("modes_covered")["higher_is_better"] is True
    assert METRICS.meta("reverse_kl")["higher_is_better"] is False


def test_energy_distance_is_zero_for_the_real_points_and_2d_between_point_masses():
    context = EvalContext(RING.train_x[:100].clone(), None, RING)
    assert METRICS.get("energy_distance")(context) == pytest.approx(0.0, abs=1e-12)
    shifted = EvalContext(RING.train_x[:100] + torch.tensor([3.0, 4.0]), None, RING)
    assert METRICS.get("energy_distance")(shifted) > 1.0
    # Point masses at a and b: 2|a - b| - 0 - 0.
    masses = load_dataset("ring8", {"size": 100, "test_size": 100})
    masses.train_x[:] = torch.tensor([1.0, 1.0])
    at_origin = EvalContext(torch.zeros(50, 2), None, masses)
    assert METRICS.get("energy_distance")(at_origin) == pytest.approx(2 * math.sqrt(2))
    assert METRICS.meta("energy_distance")["higher_is_better"] is False
