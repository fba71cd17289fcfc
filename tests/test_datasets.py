"""Datasets: mode geometry, shapes, deterministic splits, and the real torchvision loaders on
tiny files written in their on-disk formats."""

import math

import numpy as np
import pytest
import torch
from conftest import write_mnist

from harness.data import load_dataset


def test_ring8_modes_are_eight_distinct_angles():
    data = load_dataset("ring8", {"radius": 2.0, "std": 0.02, "size": 4000})
    centres = torch.tensor(data.info.mode_centres)
    angles = sorted(math.atan2(y, x) % (2 * math.pi) for x, y in centres.tolist())
    assert len(centres) == 8
    assert angles == pytest.approx([2 * math.pi * k / 8 for k in range(8)])
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0))
    offsets = data.train_x - centres[data.train_y]
    assert offsets.std().item() == pytest.approx(0.02, rel=0.05)
    assert set(data.train_y.tolist()) == set(range(8))


def test_grid25_centres_and_std():
    data = load_dataset("grid25", {})
    centres = set(map(tuple, data.info.mode_centres))
    assert centres == {
        (x, y) for x in (-4.0, -2.0, 0.0, 2.0, 4.0) for y in (-4.0, -2.0, 0.0, 2.0, 4.0)
    }
    assert data.info.mode_std == 0.05
    offsets = data.train_x - torch.tensor(data.info.mode_centres)[data.train_y]
    assert offsets.std().item() == pytest.approx(0.05, rel=0.05)


def test_digits_split_is_deterministic_and_disjoint():
    a, b = load_dataset("digits", {}), load_dataset("digits", {})
    assert torch.equal(a.train_x, b.train_x)
    assert a.train_x.shape[1:] == (1, 8, 8) and len(a.train_x) + len(a.test_x) == 1797
    assert a.train_x.min() >= -1 and a.train_x.max() <= 1
    other = load_dataset("digits", {"split_seed": 1})
    assert not torch.equal(a.train_x, other.train_x)
    assert load_dataset("digits", {"resolution": 32}).train_x.shape[1:] == (1, 32, 32)


def test_stacked_digits_label_is_the_channel_triple():
    digits = load_dataset("digits", {"test_fraction": 0.2, "split_seed": 0})
    stacked = load_dataset("stacked_digits", {"size": 300, "test_size": 50})
    assert stacked.train_x.shape == (300, 3, 8, 8) and stacked.info.num_classes == 1000
    lookup = {
        tuple(img.flatten().tolist()): int(lbl)
        for img, lbl in zip(digits.train_x, digits.train_y, strict=True)
    }
    for image, label in zip(stacked.train_x[:20], stacked.train_y[:20], strict=True):
        channels = [lookup[tuple(image[c : c + 1].flatten().tolist())] for c in range(3)]
        assert label == channels[0] * 100 + channels[1] * 10 + channels[2]


def test_mnist_loads_through_torchvision_from_real_idx_files(tmp_path):
    write_mnist(tmp_path, 12, 5)
    data = load_dataset("mnist", {"root": str(tmp_path), "resolution": 32})
    assert data.train_x.shape == (12, 1, 32, 32) and data.test_x.shape == (5, 1, 32, 32)
    assert data.train_x.min() >= -1 and data.train_x.max() <= 1
    plain = load_dataset("mnist", {"root": str(tmp_path), "limit": 4})
    assert plain.train_x.shape == (4, 1, 28, 28)


def test_stacked_mnist_stacks_three_mnist_digits_from_the_matching_split(tmp_path):
    write_mnist(tmp_path, 40, 20)
    single = load_dataset("mnist", {"root": str(tmp_path)})
    stacked = load_dataset("stacked_mnist", {"root": str(tmp_path), "size": 50, "test_size": 30})
    assert stacked.train_x.shape == (50, 3, 28, 28) and stacked.test_x.shape == (30, 3, 28, 28)
    assert stacked.info.num_classes == 1000 and stacked.info.label_factors == (10, 10, 10)
    for x, y, digits, labels in (
        (stacked.train_x, stacked.train_y, single.train_x, single.train_y),
        (stacked.test_x, stacked.test_y, single.test_x, single.test_y),
    ):
        for image, label in zip(x, y, strict=True):
            found = []
            for channel in image:  # each channel is a digit of the same split
                match = (digits[:, 0] == channel).flatten(1).all(dim=1).nonzero()
                assert len(match) >= 1
                found.append(int(labels[match[0, 0]]))
            assert label == found[0] * 100 + found[1] * 10 + found[2]
    assert load_dataset("stacked_mnist", {"root": str(tmp_path), "size": 50}).train_x.equal(
        stacked.train_x
    )


def test_missing_torchvision_dataset_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"under .* download = true"):
        load_dataset("fashion_mnist", {"root": str(tmp_path)})


def test_image_folder_reads_class_subfolders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (tmp_path / label).mkdir()
        for i in range(5):
            pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{i}.png")
    data = load_dataset(
        "image_folder", {"root": str(tmp_path), "resolution": 16, "test_fraction": 0.2}
    )
    assert data.train_x.shape == (8, 3, 16, 16) and data.test_x.shape == (2, 3, 16, 16)
    assert data.info.num_classes == 2
    assert sorted(torch.cat([data.train_y, data.test_y]).tolist()) == [0] * 5 + [1] * 5
