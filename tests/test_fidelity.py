"""Image metrics: closed forms, agreement with torch_fidelity.calculate_metrics on PNG files,
stacked-digit mode coverage, and the reference-feature cache."""

import math
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import fidelity_on_folders, make_cell, save_pngs, write_mnist
from scipy import linalg

from harness.data import load_dataset
from harness.evaluate import METRICS
from harness.evaluate.evaluator import EvalContext, Evaluator
from harness.evaluate.fidelity import to_uint8_rgb
from harness.evaluate.image_metrics import density_coverage

CPU = torch.device("cpu")
ALL_IMAGE_METRICS = [
    "is",
    "fid",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
    "modes_covered",
    "reverse_kl",
]


def cache_dir() -> Path:
    return Path(os.environ["GANBENCH_CACHE"])


def features_context(
    generated: torch.Tensor, reference: torch.Tensor, logits: torch.Tensor | None = None
):
    """An evaluation context whose features are given (the metric code path after extraction)."""
    logits = logits if logits is not None else torch.zeros(len(generated), 10)
    from harness.evaluate.neighbours import knn_radii

    given = SimpleNamespace(
        name="given",
        layers={"isc": "logits", "fid": "features"},
        reference_radii=lambda count, split, k, batch: knn_radii(reference, k, batch),
    )
    context = EvalContext(torch.empty(0), None, None, given, len(generated))
    context.cache["given"] = (
        {"features": generated, "logits": logits},
        {"features": reference, "logits": torch.zeros(len(reference), 10)},
    )
    return context


def metric(name, context):
    return METRICS.get(name)(context)


def gaussian(n, dim, mean, scale, seed):
    generator = torch.Generator().manual_seed(seed)
    return mean + scale * torch.randn(n, dim, generator=generator)


# ---- closed forms -----------------------------------------------------------------------


def test_fid_of_a_set_against_itself_is_zero():
    x = gaussian(2000, 16, 0.0, 1.0, 0)
    assert abs(metric("fid", features_context(x, x.clone()))) < 1e-6


def test_fid_between_two_gaussian_sets_equals_the_formula():
    a = gaussian(3000, 8, 0.0, 1.0, 1)
    b = gaussian(3000, 8, 0.5, torch.linspace(0.5, 2.0, 8), 2)
    mu_a, mu_b = a.double().mean(0).numpy(), b.double().mean(0).numpy()
    cov_a, cov_b = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(
        cov_a + cov_b - 2 * linalg.sqrtm(cov_a @ cov_b).real
    )
    assert metric("fid", features_context(a, b)) == pytest.approx(expected, rel=1e-5)
    # and close to the population value ||Δμ||² + Σ (σa - σb)² for diagonal covariances
    population = 8 * 0.25 + float(((1.0 - torch.linspace(0.5, 2.0, 8)) ** 2).sum())
    assert metric("fid", features_context(a, b)) == pytest.approx(population, rel=0.05)


def test_inception_score_of_uniform_predictions_is_one_and_of_k_one_hot_classes_is_k():
    x = torch.zeros(1000, 4)
    assert metric("is", features_context(x, x, logits=torch.zeros(1000, 10))) == pytest.approx(
        1.0, abs=1e-9
    )
    k = 10
    one_hot = 50.0 * torch.eye(k).repeat(300, 1)
    assert metric("is", features_context(x[:1], x, logits=one_hot)) == pytest.approx(k, rel=0.03)


def test_kid_of_two_samples_of_one_distribution_is_about_zero():
    a, b = gaussian(2000, 16, 0.0, 1.0, 3), gaussian(2000, 16, 0.0, 1.0, 4)
    far = gaussian(2000, 16, 1.0, 1.0, 5)
    same = metric("kid", features_context(a, b))
    assert abs(same) < 1e-3
    assert metric("kid", features_context(far, b)) > 100 * max(abs(same), 1e-4)


@pytest.mark.parametrize(
    ("n_generated", "n_real", "subset", "whole_kernel_max"),
    [(2500, 2500, 1000, None), (1700, 1200, 1000, None), (1300, 1300, 1000, 0)],
)
def test_kid_is_bit_identical_to_torch_fidelity(
    n_generated, n_real, subset, whole_kernel_max, monkeypatch
):
    """The whole-kernel KID equals torch-fidelity's per-subset loop exactly, on features like
    the classifier's (128 non-negative values), and falls back to that loop when the whole
    kernels would be too large (``whole_kernel_max`` 0)."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    from harness.evaluate import image_metrics
    from harness.evaluate.fidelity import FIDELITY_KWARGS

    if whole_kernel_max is not None:
        monkeypatch.setattr(image_metrics, "KID_WHOLE_KERNEL_MAX", whole_kernel_max)
    generator = torch.Generator().manual_seed(n_generated)
    generated = torch.relu(torch.randn(n_generated, 128, generator=generator))
    real = torch.relu(torch.randn(n_real, 128, generator=generator) + 0.1)
    kwargs = {**FIDELITY_KWARGS, "kid_subset_size": subset}
    expected = kid_features_to_metric(generated, real, **kwargs)["kernel_inception_distance_mean"]
    assert image_metrics.kid_mean(generated, real, subset) == expected
    assert expected > 1e-4  # the two sets differ: a case where the sums matter


def test_a_collapsed_generator_has_recall_and_coverage_near_zero():
    real = gaussian(1000, 8, 0.0, 1.0, 6)
    collapsed = real[:1].repeat(1000, 1) + 1e-4 * gaussian(1000, 8, 0.0, 1.0, 7)
    context = features_context(collapsed, real)
    assert metric("recall", context) < 0.02
    assert metric("coverage", context) < 0.02
    assert metric("precision", context) > 0.9  # its single point does lie on the real manifold


@pytest.mark.parametrize(
    ("n_generated", "n_real", "dim", "batch_size", "levels"),
    [(700, 500, 16, 10000, None), (300, 400, 6, 128, None), (400, 400, 3, 150, 3)],
)
def test_precision_recall_is_bit_identical_to_torch_fidelity(
    n_generated, n_real, dim, batch_size, levels
):
    from torch_fidelity.metric_prc import prc_featuresdict_to_metric

    from harness.evaluate.image_metrics import precision_recall
    from harness.evaluate.neighbours import knn_radii

    generator = torch.Generator().manual_seed(n_generated + dim)
    generated = torch.randn(n_generated, dim, generator=generator)
    real = torch.randn(n_real, dim, generator=generator) * 1.3 + 0.2
    if levels:  # coarse values: many equal distances, where a different selection would show
        generated, real = (generated * levels).round(), (real * levels).round()
    kwargs = {"prc_neighborhood": 3, "prc_batch_size": batch_size, "save_cpu_ram": True}
    expected = prc_featuresdict_to_metric({"f": generated}, {"f": real}, "f", **kwargs)
    radii = knn_radii(real, 3, batch_size)
    for cached in (None, radii):
        precision, recall = precision_recall(generated, real, 3, batch_size, cached)
        assert (precision, recall) == (expected["precision"], expected["recall"])
    assert 0 < expected["recall"] < 1  # a case where the radii decide something


def test_identical_distributions_give_density_one_and_coverage_point_97():
    real, fake = gaussian(5000, 8, 0.0, 1.0, 8), gaussian(5000, 8, 0.0, 1.0, 9)
    density, coverage = density_coverage(real, fake, k=5)
    assert density == pytest.approx(1.0, abs=0.05)
    assert coverage == pytest.approx(1 - 0.5**5, abs=0.015)  # ≈ 0.97 (Naeem et al. 2020)


# ---- agreement with torch-fidelity on files ----------------------------------------------


@pytest.fixture(scope="module")
def digits_evaluator():
    cell = make_cell(
        "dcgan", "digits", evaluation={"num_samples": 1200, "metrics": ALL_IMAGE_METRICS}
    )
    data = load_dataset(cell.dataset, cell.dataset_params)
    return Evaluator(cell.evaluation, data, CPU, cache_dir(), cell.dataset_params)


def test_classifier_is_accurate_and_named_apart_from_inception(digits_evaluator):
    tags = digits_evaluator.describe()
    assert float(tags["eval.classifier_accuracy"]) >= 0.97
    assert tags["eval.extractor"].startswith("ganbench-digits-cls-")
    assert tags["eval.extractor_kind"] == "domain-classifier"
    scores = digits_evaluator.score(torch.rand(1200, 1, 8, 8) * 2 - 1)
    assert (
        "fid_1200_cls" in scores
        and "fid" not in scores
        and not any(k.startswith("fid_") and not k.endswith("_cls") for k in scores)
    )


def test_scores_agree_with_torch_fidelity_on_the_same_images_saved_to_disk(
    digits_evaluator, tmp_path
):

    bridge = digits_evaluator.bridge
    real = digits_evaluator.data.train_x[:1200]
    generator = torch.Generator().manual_seed(0)
    generated = (real.roll(7, dims=0) + 0.3 * torch.randn(real.shape, generator=generator)).clamp(
        -1, 1
    )
    ours = digits_evaluator.score(generated)

    save_pngs(to_uint8_rgb(generated), tmp_path / "generated")
    save_pngs(to_uint8_rgb(real), tmp_path / "real")
    theirs = fidelity_on_folders(
        tmp_path / "generated", tmp_path / "real", bridge, 1200, 1200, cache=False
    )
    pairs = {
        "is_1200_cls": "inception_score_mean",
        "fid_1200_cls": "frechet_inception_distance",
        "kid_1200_cls": "kernel_inception_distance_mean",
        "precision_1200_cls": "precision",
        "recall_1200_cls": "recall",
    }
    for ours_key, theirs_key in pairs.items():
        assert ours[ours_key] == pytest.approx(theirs[theirs_key], rel=1e-5), ours_key


# ---- stacked digits and the reference cache ---------------------------------------------


def test_real_stacked_digits_cover_the_modes_and_one_triple_covers_one():
    cell = make_cell(
        "dcgan",
        "stacked_digits",
        {"size": 26_000, "test_size": 100},
        evaluation={"num_samples": 26_000, "metrics": ["modes_covered", "reverse_kl"]},
    )
    data = load_dataset(cell.dataset, cell.dataset_params)
    evaluator = Evaluator(cell.evaluation, data, CPU, cache_dir(), cell.dataset_params)
    scores = evaluator.score(data.train_x)
    assert scores["modes_covered_26k_cls"] >= 990
    assert scores["reverse_kl_26k_cls"] < 0.05
    one = evaluator.score(data.train_x[:1].repeat(2000, 1, 1, 1))
    assert one["modes_covered_2k_cls"] == 1
    assert one["reverse_kl_2k_cls"] == pytest.approx(math.log(1000))


def test_a_second_evaluation_does_no_real_data_forward_pass():
    cell = make_cell("dcgan", "digits", evaluation={"num_samples": 500, "metrics": ["fid"]})
    data = load_dataset(cell.dataset, cell.dataset_params)
    fresh_cache = cache_dir() / "reference-test"
    fresh_cache.mkdir(exist_ok=True)
    for folder in ("classifiers",):  # reuse the trained classifier, not the reference features
        (fresh_cache / folder).mkdir(exist_ok=True)
        for path in (cache_dir() / folder).glob("*.pt"):
            (fresh_cache / folder / path.name).write_bytes(path.read_bytes())
    samples = torch.rand(500, 1, 8, 8) * 2 - 1
    first = Evaluator(cell.evaluation, data, CPU, fresh_cache, cell.dataset_params)
    first_scores = first.score(samples)
    assert (
        first.bridge.reference_forward_passes == 1 and first_scores["eval_reference_cached"] == 0.0
    )
    second = Evaluator(cell.evaluation, data, CPU, fresh_cache, cell.dataset_params)
    second_scores = second.score(samples)
    assert (
        second.bridge.reference_forward_passes == 0
        and second_scores["eval_reference_cached"] == 1.0
    )
    assert second_scores["fid_500_cls"] == first_scores["fid_500_cls"]
    # Precision's real-sample radii are cached beside the features and reused as they are.
    prc = make_cell("dcgan", "digits", evaluation={"num_samples": 500, "metrics": ["precision"]})
    third = Evaluator(prc.evaluation, data, CPU, fresh_cache, prc.dataset_params)
    third_scores = third.score(samples)
    assert len(list((fresh_cache / "reference").glob("*-radii-k3-*.pt"))) == 1
    fourth = Evaluator(prc.evaluation, data, CPU, fresh_cache, prc.dataset_params)
    assert fourth.score(samples)["precision_500_cls"] == third_scores["precision_500_cls"]
    assert fourth.bridge.reference_forward_passes == 0 and len(fourth.bridge._radii) == 1


def test_the_best_checkpoint_is_chosen_on_the_test_split_and_other_latents(digits_evaluator):
    from harness.recipes.base import Sampler
    from harness.variants import ARCHITECTURES

    cell = make_cell("dcgan", "digits", width=8, latent_dim=16)
    generator, _ = ARCHITECTURES.get("dcgan")(cell.variant, digits_evaluator.data.info)
    sampler = Sampler(generator, 16, False)
    z_reported, _ = digits_evaluator.latent_bank(sampler)
    z_selection, _ = digits_evaluator.latent_bank(sampler, selection=True)
    assert not torch.equal(z_reported, z_selection)
    score = digits_evaluator.selection_score(sampler)
    assert score > 0
    test_count = len(digits_evaluator.data.test_x)
    assert ("test", test_count) in digits_evaluator.bridge._references


def test_mnist_from_local_files_gets_its_own_classifier_metrics(tmp_path):
    write_mnist(tmp_path, 64, 16)
    cell = make_cell(
        "dcgan",
        "mnist",
        {"root": str(tmp_path)},
        evaluation={"num_samples": 32, "metrics": ["fid", "modes_covered"]},
    )
    data = load_dataset(cell.dataset, cell.dataset_params)
    evaluator = Evaluator(cell.evaluation, data, CPU, tmp_path / "cache", cell.dataset_params)
    assert evaluator.describe()["eval.extractor"].startswith("ganbench-mnist-cls-")
    scores = evaluator.score(torch.rand(32, 1, 28, 28) * 2 - 1)
    assert scores["fid_32_cls"] > 0 and 1 <= scores["modes_covered_32_cls"] <= 10


def test_reference_count_is_in_the_name_when_the_split_is_smaller(digits_evaluator):
    """1,438 training digits cannot be a 2,500-image reference: the name says 1,438."""
    scores = digits_evaluator.score(torch.rand(2500, 1, 8, 8) * 2 - 1)
    assert {"fid_2500_ref1438_cls", "kid_2500_ref1438_cls", "precision_2500_ref1438_cls"} <= set(
        scores
    )
    assert "is_2500_cls" in scores and "modes_covered_2500_cls" in scores  # no reference


def test_real_data_row_and_label_agreement_on_digits():
    cell = make_cell(
        "cgan",
        "digits",
        evaluation={
            "num_samples": 2500,
            "is_splits": 1,
            "metrics": ["is", "fid", "label_agreement"],
        },
    )
    data = load_dataset(cell.dataset, cell.dataset_params)
    evaluator = Evaluator(cell.evaluation, data, CPU, cache_dir(), cell.dataset_params)
    real = evaluator.score_real()
    # 359 held-out digits against all 1,438 training ones; one IS split, named as such.
    assert set(real) == {"is_359_1split_cls", "fid_359_ref1438_cls", "label_agreement_359_cls"}
    assert real["is_359_1split_cls"] >= 8.5
    assert real["fid_359_ref1438_cls"] < 10
    accuracy = float(evaluator.describe()["eval.classifier_accuracy"])
    assert real["label_agreement_359_cls"] == pytest.approx(accuracy, abs=0.01)
    # Samples generated for other labels than the ones they show agree at chance.
    shuffled = evaluator.score(data.test_x, data.test_y.roll(1), conditional=True)
    assert shuffled["label_agreement_359_cls"] < 0.25
    # An unconditional generator has no label agreement at all (left out, never faked).
    assert "label_agreement_359_cls" not in evaluator.score(data.test_x, data.test_y)


def test_stacked_label_agreement_counts_each_channel_and_the_whole_triple():
    cell = make_cell(
        "cgan",
        "stacked_digits",
        {"size": 500, "test_size": 2000},
        evaluation={"num_samples": 2000, "metrics": ["label_agreement", "label_agreement_digit"]},
    )
    data = load_dataset(cell.dataset, cell.dataset_params)
    evaluator = Evaluator(cell.evaluation, data, CPU, cache_dir(), cell.dataset_params)
    tags = evaluator.describe()
    joint, digit = float(tags["eval.classifier_accuracy"]), tags["eval.classifier_accuracy_digit"]
    assert 0.85 < joint < float(digit)  # the triple is right less often than one digit
    real = evaluator.score_real()
    assert real["label_agreement_2k_cls"] == pytest.approx(joint, abs=1e-9)
    assert real["label_agreement_digit_2k_cls"] > 0.95
    # Keep the first digit right and scramble the other two: a third of the digits agree.
    labels = data.test_y
    wrong = (labels // 100) * 100 + (labels % 100 + 37) % 100
    partly = evaluator.score(data.test_x, wrong, conditional=True)
    assert partly["label_agreement_2k_cls"] < 0.05
    assert partly["label_agreement_digit_2k_cls"] == pytest.approx(1 / 3, abs=0.05)
