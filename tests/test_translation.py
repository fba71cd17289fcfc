"""Offline translation tasks from the 8×8 digits, their paired-fidelity metrics and baselines:
closed forms, and the baseline table measured in the variant-zoo reference (§8.3, computed
there with scikit-learn and scikit-image's SSIM at win_size=3)."""

import numpy as np
import pytest

from harness.data import translation as tasks
from harness.evaluate.translation import (
    PSNR_CAP,
    baselines,
    l1,
    label_preservation,
    psnr,
    ssim,
    target_classifier,
)

# task: (identity L1, mean L1, ridge L1, 1-NN L1, ridge SSIM_w3, 1-NN SSIM_w3), §8.3
REFERENCE = {
    ("lowres", None): (0.154, 0.195, 0.088, 0.083, 0.788, 0.820),
    ("edges", None): (0.511, 0.195, 0.031, 0.074, 0.946, 0.857),
    (None, "thick"): (0.213, 0.191, 0.047, 0.074, 0.893, 0.841),
    (None, "inverted"): (0.792, 0.195, 0.003, 0.071, 1.000, 0.880),
    (None, "rot90"): (0.392, 0.195, 0.003, 0.071, 0.999, 0.864),
}


@pytest.mark.parametrize(("source", "target"), list(REFERENCE))
def test_baselines_reproduce_the_reference_table(source, target):
    task = tasks.paired_task(source, target)
    predictions = baselines(task)
    got = (
        *(l1(predictions[b], task.test_target) for b in ("identity", "mean", "ridge")),
        l1(predictions["nearest_neighbour"], task.test_target),
        ssim(predictions["ridge"], task.test_target, window=3),
        ssim(predictions["nearest_neighbour"], task.test_target, window=3),
    )
    # The table prints 3 decimals (0.0735 appears as 0.074).
    assert got == pytest.approx(REFERENCE[(source, target)], abs=6e-4)


# task: label preservation of (real target test images, identity map, ridge), §8.3 and §9.2
# (the reference's logistic regression differs slightly in its settings: within 0.006).
LABELS = {
    ("lowres", None): (0.980, 0.735, 0.875),
    ("edges", None): (0.980, 0.000, 0.963),
    (None, "thick"): (0.960, 0.667, 0.945),
    (None, "inverted"): (0.980, 0.000, 0.980),
    (None, "rot90"): (0.980, 0.117, 0.980),
}


@pytest.mark.parametrize(("source", "target"), list(LABELS))
def test_label_preservation_separates_real_identity_and_ridge(source, target):
    task = tasks.paired_task(source, target)
    classifier = target_classifier(task.train_target, task.train_labels)
    predictions = baselines(task)
    got = tuple(
        label_preservation(classifier, images, task.test_labels)
        for images in (task.test_target, predictions["identity"], predictions["ridge"])
    )
    assert got == pytest.approx(LABELS[(source, target)], abs=6e-3)


def test_splits_are_fixed_and_disjoint():
    task = tasks.paired_task("lowres", None)
    assert (len(task.train_source), len(task.test_source)) == (1397, 400)
    again = tasks.paired_task("lowres", None)
    assert np.array_equal(task.test_source, again.test_source)
    a, b = tasks.unpaired_halves(1797)
    assert len(set(a) & set(b)) == 0 and len(a) + len(b) == 1797
    with pytest.raises(ValueError, match="unknown map 'blur'"):
        tasks.paired_task("blur", None)


def test_the_maps_do_what_they_say():
    images, _ = tasks.digits()
    x = images[:50]
    low = tasks.lowres(x)
    blocks = low.reshape(-1, 4, 2, 4, 2)
    assert np.allclose(blocks, blocks[:, :, :1, :, :1])  # constant on each 2×2 block
    assert np.allclose(blocks[:, :, 0, :, 0], x.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)))
    assert np.array_equal(tasks.inverted(tasks.inverted(x)), x)
    turned = x
    for _ in range(4):
        turned = tasks.rot90(turned)
    assert np.array_equal(turned, x) and not np.array_equal(tasks.rot90(x), x)
    assert (tasks.thick(x) >= x).all() and (tasks.edges(x) >= 0).all()
    assert tasks.thick(x).sum() > x.sum()


def test_ssim_closed_forms():
    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8))
    assert ssim(x, x) == pytest.approx(1.0)
    y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1)
    assert ssim(x, y) == pytest.approx(ssim(y, x))  # symmetric
    assert ssim(x, y) < 1.0
    # Two constant images: no variance, so SSIM is the luminance term alone.
    a, b = np.full((1, 8, 8), 0.2), np.full((1, 8, 8), 0.6)
    c1 = 0.01**2
    assert ssim(a, b) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1))
    with pytest.raises(ValueError, match="odd"):
        ssim(x, y, window=4)
    with pytest.raises(ValueError, match="does not fit"):
        ssim(x, y, window=9)


def test_psnr_and_l1_closed_forms():
    x = np.zeros((3, 8, 8))
    y = x + 0.1
    assert l1(x, y) == pytest.approx(0.1)
    assert psnr(x, y) == pytest.approx(20.0)  # 10·log10(1 / 0.01)
    assert psnr(x, x) == PSNR_CAP  # an exact match is capped, never infinite
    mixed = np.concatenate([y[:1], x[1:]])
    assert psnr(x, mixed) == pytest.approx((20.0 + 2 * PSNR_CAP) / 3)


# ---- a user's own folders, in pix2pix's and CycleGAN's layouts ---------------------------


def _png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def test_a_paired_folder_splits_each_image_into_source_and_target(tmp_path):
    from harness.data.translation_folders import paired_folder

    for split, count in (("train", 3), ("val", 2)):  # no test/: val stands in
        for i in range(count):
            side_by_side = np.zeros((8, 16), dtype=np.uint8)
            side_by_side[:, :8] = 10 * (i + 1)  # source A on the left
            side_by_side[:, 8:] = 200 + i  # target B on the right
            _png(tmp_path / "facades" / split / f"{i:03d}.png", side_by_side)
    data = paired_folder(tmp_path / "facades", resolution=8, channels=1)
    a, b = data["train"]
    assert a.shape == b.shape == (3, 1, 8, 8)
    assert data["test"][0].shape == (2, 1, 8, 8)
    scaled = lambda v: v / 255 * 2 - 1  # noqa: E731
    assert a[:, 0, 0, 0].tolist() == pytest.approx([scaled(10), scaled(20), scaled(30)], abs=1e-6)
    assert b[:, 0, 0, 0].tolist() == pytest.approx(
        [scaled(200), scaled(201), scaled(202)], abs=1e-6
    )
    rgb = paired_folder(tmp_path / "facades", resolution=4)  # resized, three channels
    assert rgb["train"][0].shape == (3, 3, 4, 4)


def test_an_unpaired_folder_reads_its_four_folders(tmp_path):
    from harness.data.translation_folders import unpaired_folder

    counts = {"trainA": 3, "trainB": 2, "testA": 1, "testB": 2}
    for name, count in counts.items():
        for i in range(count):
            _png(tmp_path / "h2z" / name / f"{i}.jpg", np.full((6, 6, 3), 40 * i))
    (tmp_path / "h2z" / "trainA" / "notes.txt").write_text("not an image")
    data = unpaired_folder(tmp_path / "h2z", resolution=8)
    assert {name: len(images) for name, images in data.items()} == counts
    assert data["trainA"].shape[1:] == (3, 8, 8)
    assert float(data["trainA"].min()) >= -1 and float(data["trainA"].max()) <= 1


def test_translation_folders_name_what_is_missing(tmp_path):
    from harness.data.translation_folders import paired_folder, unpaired_folder

    with pytest.raises(FileNotFoundError, match="does not exist"):
        paired_folder(tmp_path / "nowhere", 8)
    (tmp_path / "p" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"train holds no images"):
        paired_folder(tmp_path / "p", 8)
    _png(tmp_path / "p" / "train" / "0.png", np.zeros((4, 8)))
    with pytest.raises(FileNotFoundError, match=r"p/test does not exist"):
        paired_folder(tmp_path / "p", 8)
    (tmp_path / "u" / "trainA").mkdir(parents=True)
    _png(tmp_path / "u" / "trainA" / "0.png", np.zeros((4, 4)))
    with pytest.raises(FileNotFoundError, match=r"u/trainB does not exist"):
        unpaired_folder(tmp_path / "u", 8)
    (tmp_path / "u" / "trainB").mkdir()
    (tmp_path / "u" / "trainB" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"broken.png: not a readable image"):
        unpaired_folder(tmp_path / "u", 8)


def test_a_users_folders_train_pix2pix_and_cyclegan_through_a_suite(tmp_path):
    """The registered folder datasets: a suite on a user's own pix2pix and CycleGAN folders
    validates, trains a step of each recipe, and scores paired L1 where pairs exist; a
    folder that is not there is refused at validation, naming the key."""
    import torch
    from conftest import make_cell

    from harness.config import SuiteSpec
    from harness.data import load_dataset
    from harness.evaluate.evaluator import Evaluator
    from harness.train.loop import Trainer

    rng = np.random.RandomState(0)
    for split, count in (("train", 6), ("test", 3)):
        for i in range(count):
            _png(tmp_path / "maps" / split / f"{i}.png", rng.randint(0, 255, (8, 16, 3)))
    for name in ("trainA", "trainB", "testA", "testB"):
        for i in range(4):
            _png(tmp_path / "h2z" / name / f"{i}.png", rng.randint(0, 255, (8, 8, 3)))
    cpu = torch.device("cpu")
    for dataset, preset, root, metrics in (
        ("paired_folder", "pix2pix_digits", "maps", ["l1"]),
        ("unpaired_folder", "cyclegan_digits", "h2z", ["cycle_l1_a"]),  # no pairs: no L1
    ):
        params = {"root": str(tmp_path / root), "resolution": 8}
        cell = make_cell(preset, dataset, params, batch_size=2, evaluation={"metrics": metrics})
        data = load_dataset(dataset, params)
        assert data.info.shape == data.info.source_shape == (3, 8, 8)
        trainer = Trainer(cell, data, cpu, Evaluator(cell.evaluation, data, cpu), tmp_path)
        trainer.step()
        scores = trainer.evaluator.evaluate(trainer.recipe.sampler())
        if dataset == "paired_folder":
            assert set(scores) >= {"l1_3"}  # three test pairs, their targets known
        else:
            assert set(scores) >= {"cycle_l1_a_4"}
    with pytest.raises(ValueError, match="params.root: .*nowhere does not exist"):
        SuiteSpec(
            name="x",
            datasets=[{"name": "paired_folder", "params": {"root": str(tmp_path / "nowhere")}}],
            variants=[{"preset": "pix2pix_digits"}],
            seeds=[0],
            budget={"g_steps": 1},
        )
