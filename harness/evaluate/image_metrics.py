"""Image metrics on features extracted in memory. IS and FID are torch-fidelity's own
functions; KID is torch-fidelity's bit for bit, with each kernel matrix computed once
(pinned by a test); precision/recall makes torch-fidelity's own distance calls and
reductions, with the real samples' radii cached (bit-identical to
``prc_featuresdict_to_metric``, pinned by a test); density/coverage (which torch-fidelity
lacks) and classifier mode coverage are computed here."""

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
    generated, reference = _features(context)
    layer = context.bridge.layers["fid"]
    size = kid_subset_size(len(generated[layer]), len(reference[layer]))
    return kid_mean(generated[layer], reference[layer], size)


# Above this many samples on a side the whole kernel matrices (float32) take too much memory
# and save little: each entry is then computed about once by the subsets anyway.
KID_WHOLE_KERNEL_MAX = 6000


def kid_mean(generated: torch.Tensor, reference: torch.Tensor, subset_size: int) -> float:
    """torch-fidelity's KID mean (``kid_features_to_metric`` with ``FIDELITY_KWARGS``), bit
    for bit: the same subsets drawn in the same order, the same float32 kernel entries and
    torch-fidelity's own ``mmd2`` on each subset. Where it saves work (at 2,500 samples the
    100 subsets of 1,000 compute every kernel entry 16 times over), each kernel matrix is
    computed once over all samples and every subset's blocks are copied out of it. The first
    subset's blocks are checked against torch-fidelity's own per-subset kernels; on any
    difference (a BLAS that sums a dot product differently for another matrix shape) the
    metric is left to torch-fidelity's loop."""
    import numpy as np
    from torch_fidelity.metric_kid import kernel_poly, kid_features_to_metric, mmd2

    kwargs = {**FIDELITY_KWARGS, "kid_subset_size": subset_size}

    def torch_fidelity_loop() -> float:
        metric = kid_features_to_metric(generated, reference, **kwargs)
        return metric["kernel_inception_distance_mean"]

    subsets = kwargs["kid_subsets"]
    n1, n2 = len(generated), len(reference)
    whole = n1 * n1 + n2 * n2 + n1 * n2
    if (
        kwargs["kid_kernel"] != "poly"
        or max(n1, n2) > KID_WHOLE_KERNEL_MAX
        or 2 * whole > 3 * subsets * subset_size * subset_size
    ):
        return torch_fidelity_loop()
    f1, f2 = generated.cpu().numpy(), reference.cpu().numpy()
    kernels = {
        pair: torch.from_numpy(kernel_poly(x, y, **kwargs))
        for pair, (x, y) in {"11": (f1, f1), "12": (f1, f2), "22": (f2, f2)}.items()
    }

    def block(pair, rows, columns):
        return kernels[pair].index_select(0, rows).index_select(1, columns).numpy()

    rng = np.random.RandomState(kwargs["rng_seed"])
    mmds = np.zeros(subsets)
    for i in range(subsets):
        a = rng.choice(n1, subset_size, replace=False)
        b = rng.choice(n2, subset_size, replace=False)
        rows, columns = torch.from_numpy(a), torch.from_numpy(b)
        k11, k12, k22 = (
            block("11", rows, rows),
            block("12", rows, columns),
            block("22", columns, columns),
        )
        if i == 0:
            x, y = f1[a], f2[b]
            own = (
                kernel_poly(x, x, **kwargs),
                kernel_poly(x, y, **kwargs),
                kernel_poly(y, y, **kwargs),
            )
            if not all(np.array_equal(m, o) for m, o in zip((k11, k12, k22), own, strict=True)):
                return torch_fidelity_loop()
        mmds[i] = mmd2(k11, k12, k22)
    return float(np.mean(mmds))


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
