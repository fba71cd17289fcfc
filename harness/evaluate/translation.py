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
- Baselines: the identity map, the mean training target, ridge regression from source to
  target pixels (α = 1, outputs clipped to [0, 1]) and 1-nearest-neighbour (the training
  target of the nearest training source).
"""

from __future__ import annotations

import numpy as np

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
    shape = task.test_target.shape
    ridge = Ridge(alpha=1.0).fit(train_source, train_target).predict(test_source)
    distances = ((test_source[:, None, :] - train_source[None, :, :]) ** 2).sum(axis=2)
    nearest = distances.argmin(axis=1)
    return {
        "identity": task.test_source.copy(),
        "mean": np.broadcast_to(train_target.mean(axis=0).reshape(shape[1:]), shape).copy(),
        "ridge": np.clip(ridge, 0.0, 1.0).reshape(shape),
        "nearest_neighbour": train_target[nearest].reshape(shape),
    }
