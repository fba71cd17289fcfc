"""Paired-fidelity metrics for image translation and the baselines every translation table
prints beside the models (variant-zoo reference §8.3, §10.1). Images are float arrays in
[0, 1] of shape (N, H, W).

- ``l1``: mean absolute error over all pixels of all images.
- ``psnr``: per-image PSNR (data range 1), averaged; an exact match (MSE 0) counts as
  ``PSNR_CAP`` dB rather than infinity.
- ``ssim``: per-image SSIM with a ``window``×``window`` uniform window (the window is part of
  the metric's name, ``ssim_w3``: 8×8 images leave no room for the usual 7 or 11),
  K1 = 0.01, K2 = 0.03, sample covariances, averaged over the pixels whose window lies inside
  the image, as scikit-image's ``structural_similarity`` defines it; then averaged over images.
- ``label_preservation``: the accuracy, against the *source* labels, of a classifier trained
  on real *target-domain* training images (pix2pix's FCN-score argument: realistic outputs
  are classified correctly). The offline classifier is a logistic regression on pixels.
- ``cycle_l1_a`` / ``cycle_l1_b``: mean |F(G(a)) − a| over the held-out sources and
  |G(F(b)) − b| over the held-out targets (CycleGAN); ``identity_l1_a`` / ``identity_l1_b``:
  |F(a) − a| and |G(b) − b|, how far each map moves an image already in its output domain.
- Baselines: the identity map, the mean training target, ridge regression from source to
  target pixels (α = 1, outputs clipped to [0, 1]) and 1-nearest-neighbour (the training
  target of the nearest training source).
"""

from __future__ import annotations

import numpy as np
import torch

PSNR_CAP = 100.0


def l1(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.abs(np.asarray(prediction, float) - np.asarray(target, float)).mean())


def psnr(prediction: np.ndarray, target: np.ndarray) -> float:
    errors = (np.asarray(prediction, float) - np.asarray(target, float)) ** 2
    mse = errors.reshape(len(errors), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        values = np.where(mse > 0, 10 * np.log10(1.0 / np.maximum(mse, 1e-300)), PSNR_CAP)
    return float(np.minimum(values, PSNR_CAP).mean())


def ssim(prediction: np.ndarray, target: np.ndarray, window: int = 3) -> float:
    from scipy.ndimage import uniform_filter

    if window % 2 == 0 or window < 3:
        raise ValueError(f"SSIM window must be odd and at least 3, not {window}")
    prediction, target = np.asarray(prediction, float), np.asarray(target, float)
    if min(prediction.shape[1:]) < window:
        raise ValueError(f"SSIM window {window} does not fit {prediction.shape[1:]} images")
    c1, c2 = 0.01**2, 0.03**2
    covariance_norm = window * window / (window * window - 1)
    pad = (window - 1) // 2

    def mean(image):
        return uniform_filter(image, size=window)

    scores = []
    for x, y in zip(prediction, target, strict=True):
        ux, uy = mean(x), mean(y)
        vx = covariance_norm * (mean(x * x) - ux * ux)
        vy = covariance_norm * (mean(y * y) - uy * uy)
        vxy = covariance_norm * (mean(x * y) - ux * uy)
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        scores.append(s[pad : s.shape[0] - pad, pad : s.shape[1] - pad].mean())
    return float(np.mean(scores))


def target_classifier(images: np.ndarray, labels: np.ndarray):
    """A classifier of real target-domain images: logistic regression on their pixels."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000).fit(images.reshape(len(images), -1), labels)


def label_preservation(classifier, translated: np.ndarray, source_labels: np.ndarray) -> float:
    """Fraction of translated images the target-domain classifier assigns their source's
    label."""
    predicted = classifier.predict(np.asarray(translated).reshape(len(translated), -1))
    return float((predicted == np.asarray(source_labels)).mean())


def baselines(task) -> dict[str, np.ndarray]:
    """Each baseline's predictions for the task's test sources (a ``PairedTask``)."""
    from sklearn.linear_model import Ridge

    train_source = task.train_source.reshape(len(task.train_source), -1)
    test_source = task.test_source.reshape(len(task.test_source), -1)
    train_target = task.train_target.reshape(len(task.train_target), -1)
    shape = (len(task.test_source), *task.train_target.shape[1:])
    ridge = Ridge(alpha=1.0).fit(train_source, train_target).predict(test_source)
    distances = ((test_source[:, None, :] - train_source[None, :, :]) ** 2).sum(axis=2)
    nearest = distances.argmin(axis=1)
    return {
        "identity": task.test_source.copy(),
        "mean": np.broadcast_to(train_target.mean(axis=0).reshape(shape[1:]), shape).copy(),
        "ridge": np.clip(ridge, 0.0, 1.0).reshape(shape),
        "nearest_neighbour": train_target[nearest].reshape(shape),
    }


# -- registered metrics (functions of an ``EvalContext``; images in [-1, 1]) ---------------


def _unit(images) -> np.ndarray:
    """[-1, 1] tensors → [0, 1] float64 arrays, one 2-D image per channel: (N·C, H, W)."""
    array = (images.detach().cpu().double().numpy() + 1.0) / 2.0
    return array.reshape(-1, *array.shape[-2:])


def l1_metric(context) -> float | None:
    return None if context.targets is None else l1(_unit(context.samples), _unit(context.targets))


def psnr_metric(context) -> float | None:
    if context.targets is None:
        return None
    return psnr(_unit(context.samples), _unit(context.targets))


def ssim_w3_metric(context) -> float | None:
    if context.targets is None:
        return None
    return ssim(_unit(context.samples), _unit(context.targets), window=3)


def label_preservation_metric(context) -> float | None:
    """The domain classifier (trained on real target-domain images) against the labels of
    what the samples came from: a translator's source labels, a baseline's, or on held-out
    real targets their own (the classifier's accuracy: the real-data row)."""
    from harness.evaluate.image_metrics import predicted_classes

    translated = context.sampler is not None and context.sampler.translates
    if context.labels is None or not (translated or context.conditional):
        return None
    return float((predicted_classes(context) == context.labels.cpu()).double().mean())


@torch.no_grad()
def _mapped(module, images, device, chunk: int = 1000):
    was_training = module.training
    module.eval()
    try:
        return torch.cat(
            [module(images[i : i + chunk].to(device)).cpu() for i in range(0, len(images), chunk)]
        )
    finally:
        module.train(was_training)


def _roundtrip(context, direction: str, through: str) -> float | None:
    """Mean L1, on [0, 1], between held-out images of one domain and what the maps make of
    them: ``through`` "cycle" (there and back) or "identity" (the map into their own
    domain)."""
    sampler = context.sampler
    if sampler is None or getattr(sampler, "inverse", None) is None:
        return None
    forward, inverse = sampler.module, sampler.inverse
    device = next(forward.parameters()).device
    if direction == "a":
        images = context.data.extra["source_test"]
        first, second = forward, inverse
    else:
        images = context.data.test_x
        first, second = inverse, forward
    if through == "cycle":
        out = _mapped(second, _mapped(first, images, device), device)
    else:
        out = _mapped(second, images, device)
    return l1(_unit(out), _unit(images))


def cycle_l1_a(context) -> float | None:
    return _roundtrip(context, "a", "cycle")


def cycle_l1_b(context) -> float | None:
    return _roundtrip(context, "b", "cycle")


def identity_l1_a(context) -> float | None:
    return _roundtrip(context, "a", "identity")


def identity_l1_b(context) -> float | None:
    return _roundtrip(context, "b", "identity")


# -- CoGAN's pairs -------------------------------------------------------------------------

BINARY_THRESHOLD = 0.5


def _pairs(context):
    sampler = context.sampler
    if sampler is None or not hasattr(sampler, "pairs") or context.inputs is None:
        return None
    device = next(sampler.module.parameters()).device
    a, b = sampler.pairs(context.inputs.to(device))
    return a.cpu(), b.cpu()


def pair_agreement(context) -> float | None:
    """CoGAN's pixel agreement (Liu & Tuzel 2016, §4): the domain-A image of each pair put
    through the known map to domain B, both binarised at 0.5 on [0, 1], the fraction of
    pixels that agree, averaged over the bank. Undefined without a known map from A to B."""
    pair_map = context.data.extra.get("pair_map")
    pairs = _pairs(context)
    if pair_map is None or pairs is None:
        return None
    from harness.data.translation import MAPS

    a, b = (_unit(images) for images in pairs)
    mapped = MAPS[pair_map](a)
    return float(((mapped > BINARY_THRESHOLD) == (b > BINARY_THRESHOLD)).mean())


def _domain_classifiers(data):
    """Logistic regressions on the real training images of domain A and of domain B, fitted
    once per loaded dataset."""
    found = data.extra.get("_pair_classifiers")
    if found is None:
        streams = data.streams()
        found = tuple(
            target_classifier(_unit(streams[d][0]).reshape(len(streams[d][0]), -1), streams[d][1])
            for d in ("A", "B")
        )
        data.extra["_pair_classifiers"] = found
    return found


def pair_label_agreement(context) -> float | None:
    """Fraction of pairs whose two images get the same label: domain A's from a classifier
    of real domain-A images, domain B's from one of real domain-B images (logistic
    regressions on pixels). About 0.1 for two independent generators of ten classes."""
    pairs = _pairs(context)
    streams = context.data.streams()
    if pairs is None or any(len(streams[d][1].unique()) < 2 for d in ("A", "B")):
        return None  # no labels (a user's folders) to agree on
    classifier_a, classifier_b = _domain_classifiers(context.data)
    a, b = (_unit(images).reshape(len(images), -1) for images in pairs)
    return float((classifier_a.predict(a) == classifier_b.predict(b)).mean())
