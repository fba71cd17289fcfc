"""Image metrics on features extracted in memory. IS, FID and KID are torch-fidelity's own
functions; precision/recall makes torch-fidelity's own distance calls and reductions, with the
real samples' radii cached (bit-identical to ``prc_featuresdict_to_metric``, pinned by a test);
density/coverage (which torch-fidelity lacks) and classifier mode coverage are computed here."""

from __future__ import annotations

import torch

from harness.evaluate.fidelity import FIDELITY_KWARGS, to_uint8_rgb
from harness.evaluate.neighbours import inside_any_ball, knn_radii


def _features(context, bridge=None):
    """Generated and reference features from ``bridge`` (default: the metric extractor),
    extracted once per evaluation."""
    bridge = bridge or context.bridge
    if bridge.name not in context.cache:
        generated = bridge.features(to_uint8_rgb(context.samples))
        reference = bridge.reference(context.reference_size, context.reference_split)
        context.cache[bridge.name] = (generated, reference)
    return context.cache[bridge.name]


def inception_score(context) -> float | None:
    from torch_fidelity.metric_isc import isc_featuresdict_to_metric

    if "isc" not in context.bridge.layers:
        return None  # weights without the classification layer (converted FID network)
    generated, _ = _features(context)
    layer = context.bridge.layers["isc"]
    kwargs = {**FIDELITY_KWARGS, "isc_splits": context.is_splits}
    return isc_featuresdict_to_metric(generated, layer, **kwargs)["inception_score_mean"]


def frechet_distance(context) -> float:
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    generated, reference = _features(context)
    stats = [
        fid_features_to_statistics(f[context.bridge.layers["fid"]]) for f in (generated, reference)
    ]
    return fid_statistics_to_metric(*stats, False)["frechet_inception_distance"]


def kid_subset_size(n_generated: int, n_reference: int) -> int:
    return min(1000, n_generated, n_reference)


def kernel_distance(context) -> float:
    from torch_fidelity.metric_kid import kid_featuresdict_to_metric

    generated, reference = _features(context)
    layer = context.bridge.layers["fid"]
    size = kid_subset_size(len(generated[layer]), len(reference[layer]))
    kwargs = {**FIDELITY_KWARGS, "kid_subset_size": size}
    return kid_featuresdict_to_metric(generated, reference, layer, **kwargs)[
        "kernel_inception_distance_mean"
    ]


def precision_recall(
    generated: torch.Tensor,
    reference: torch.Tensor,
    neighbourhood: int,
    batch_size: int,
    reference_radii: torch.Tensor | None = None,
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) exactly as torch-fidelity's
    ``calculate_precision_recall_part`` computes them (same distance calls, same reductions;
    a test pins equality with ``prc_featuresdict_to_metric``), but with the real samples'
    radii reusable across evaluations."""
    generated_radii = knn_radii(generated, neighbourhood, batch_size)
    recall = inside_any_ball(reference, generated, generated_radii, batch_size)
    if reference_radii is None:
        reference_radii = knn_radii(reference, neighbourhood, batch_size)
    precision = inside_any_ball(generated, reference, reference_radii, batch_size)
    return precision, recall


def _precision_recall(context) -> tuple[float, float]:
    if "prc" not in context.cache:
        generated, reference = _features(context)
        layer = context.bridge.layers["fid"]
        k, batch = FIDELITY_KWARGS["prc_neighborhood"], FIDELITY_KWARGS["prc_batch_size"]
        radii = context.bridge.reference_radii(
            context.reference_size, context.reference_split, k, batch
        )
        context.cache["prc"] = precision_recall(generated[layer], reference[layer], k, batch, radii)
    return context.cache["prc"]


def precision(context) -> float:
    return _precision_recall(context)[0]


def recall(context) -> float:
    return _precision_recall(context)[1]


def density_coverage(
    real: torch.Tensor, fake: torch.Tensor, k: int = 5, chunk: int = 2048
) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, arXiv:2002.09797), radii from real samples.

    r_i is the distance from real sample i to its k-th nearest other real sample.
    density = 1/(k·M) Σ_j Σ_i [d(fake_j, real_i) ≤ r_i];
    coverage = 1/N Σ_i [min_j d(real_i, fake_j) ≤ r_i].
    """
    real, fake = real.double(), fake.double()
    radii = torch.empty(len(real), dtype=torch.float64)
    for start in range(0, len(real), chunk):
        distances = torch.cdist(real[start : start + chunk], real)
        radii[start : start + chunk] = distances.kthvalue(k + 1, dim=1).values  # +1: itself
    inside = 0.0
    nearest_fake = torch.full((len(real),), float("inf"), dtype=torch.float64)
    for start in range(0, len(fake), chunk):
        distances = torch.cdist(fake[start : start + chunk], real)  # fakes × reals
        inside += float((distances <= radii).sum())
        nearest_fake = torch.minimum(nearest_fake, distances.min(dim=0).values)
    density = inside / (k * len(fake))
    coverage = float((nearest_fake <= radii).double().mean())
    return density, coverage


def _density_coverage(context) -> tuple[float, float]:
    if "density_coverage" not in context.cache:
        generated, reference = _features(context)
        layer = context.bridge.layers["fid"]
        context.cache["density_coverage"] = density_coverage(reference[layer], generated[layer])
    return context.cache["density_coverage"]


def density(context) -> float:
    return _density_coverage(context)[0]


def coverage(context) -> float:
    return _density_coverage(context)[1]


def predicted_classes(context) -> torch.Tensor:
    """The domain classifier's class (or stacked triple) for every generated sample."""
    if "predicted" not in context.cache:
        generated, _ = _features(context, context.classifier_bridge)
        context.cache["predicted"] = generated["logits"].argmax(dim=1)
    return context.cache["predicted"]


def predicted_class_counts(context) -> torch.Tensor:
    """How many generated samples the classifier puts in each class (or stacked triple)."""
    return torch.bincount(predicted_classes(context), minlength=context.data.info.num_classes)


def label_agreement(context) -> float | None:
    """Fraction of samples classified as the label they were generated for; undefined for
    an unconditional generator. On held-out real data it is the classifier's accuracy."""
    if not context.conditional or context.labels is None:
        return None
    return float((predicted_classes(context) == context.labels.cpu()).double().mean())


def label_agreement_digit(context) -> float | None:
    """Per-factor agreement, averaged over factors (each stacked channel's digit against the
    requested digit); undefined unless conditional on a factorised label."""
    from harness.variants.nets.common import split_labels

    factors = context.data.info.label_factors
    if not context.conditional or context.labels is None or len(factors) < 2:
        return None
    predicted = split_labels(predicted_classes(context), factors)
    wanted = split_labels(context.labels.cpu(), factors)
    matches = [(p == w).double().mean() for p, w in zip(predicted, wanted, strict=True)]
    return float(torch.stack(matches).mean())
