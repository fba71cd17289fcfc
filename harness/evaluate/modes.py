"""Mode metrics.

2-D Gaussian mixtures (Srivastava et al. 2017; Lin et al. 2018, PacGAN): a sample is high
quality when it lies within 3 standard deviations of its nearest mode centre; a mode is covered
when it is the nearest mode of at least one high-quality sample; ``reverse_kl`` is the KL of
the high-quality samples' mode histogram against uniform.

Images with a domain classifier (digits: 10 modes; stacked digits: 1,000 modes, each channel
classified): a mode is covered when the classifier assigns it at least one generated sample;
``reverse_kl`` is KL(histogram of predicted modes ‖ uniform) over all samples.
"""

from __future__ import annotations

import torch


def assign_modes(samples: torch.Tensor, centres: torch.Tensor, std: float):
    """Nearest-mode index of every sample and whether the sample is high quality."""
    distances = torch.cdist(samples.double(), centres.double())
    nearest_distance, nearest = distances.min(dim=1)
    return nearest, nearest_distance <= 3 * std


def _mode_counts(context) -> torch.Tensor:
    """Per-mode counts (high-quality samples for points, predictions for images), computed once."""
    if context.data.info.kind == "images":
        from harness.evaluate.image_metrics import predicted_class_counts

        return predicted_class_counts(context)
    if "mode_counts" not in context.cache:
        info = context.data.info
        centres = torch.tensor(info.mode_centres, dtype=torch.float64)
        nearest, high_quality = assign_modes(context.samples.cpu(), centres, info.mode_std)
        context.cache["mode_counts"] = torch.bincount(nearest[high_quality], minlength=len(centres))
        context.cache["high_quality"] = high_quality
    return context.cache["mode_counts"]


def modes_covered(context) -> float:
    return float((_mode_counts(context) > 0).sum())


def high_quality_fraction(context) -> float:
    _mode_counts(context)
    return float(context.cache["high_quality"].double().mean())


def reverse_kl(context) -> float | None:
    """KL(p ‖ uniform) where p is the mode histogram; None when there is nothing to count."""
    counts = _mode_counts(context).double()
    total = counts.sum()
    if total == 0:
        return None
    p = counts[counts > 0] / total
    return float((p * (p * len(counts)).log()).sum())


def energy_distance(context) -> float:
    """Squared energy distance (Székely & Rizzo 2013) between the generated points and as many
    real points of the reference split: 2·E|X−Y| − E|X−X′| − E|Y−Y′|, V-statistics, so it is 0
    exactly for identical sets and ≥ 0 always. Continuous in both quality and coverage, which
    makes it a usable study objective where the mode counts are still all zero."""
    data = context.data
    real = data.train_x if context.reference_split == "train" else data.test_x
    x = context.samples.cpu().double()
    y = real[: len(x)].double()
    return float(2 * torch.cdist(x, y).mean() - torch.cdist(x, x).mean() - torch.cdist(y, y).mean())
