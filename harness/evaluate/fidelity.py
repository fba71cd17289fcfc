"""The bridge to torch-fidelity: domain-classifier feature extractors registered into
torch-fidelity, features extracted in memory (no image files), metrics computed by
torch-fidelity's own functions, and real-data features cached under a hash of everything
that determines them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from torch.nn import functional as F
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from harness.evaluate.classifier import SmallCNN, data_hash, load_or_train

# Bump when the way images reach the extractor changes (quantisation, channel handling).
PREPROCESSING_VERSION = 1
# torch-fidelity settings every score uses; logged with the scores.
FIDELITY_KWARGS = {
    "isc_splits": 10,
    "samples_shuffle": True,
    "rng_seed": 2020,
    "kid_subsets": 100,
    "kid_kernel": "poly",
    "kid_kernel_poly_degree": 3,
    "kid_kernel_poly_gamma": None,
    "kid_kernel_poly_coef0": 1,
    "prc_neighborhood": 3,
    "prc_batch_size": 10000,
    "save_cpu_ram": True,  # chunked distances for PR; no DataLoader worker processes
    "verbose": False,
}
BATCH_SIZE = 500


def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images → uint8 RGB, exactly as saving them to PNG and reading back would."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return pixels.expand(-1, 3, -1, -1).contiguous() if pixels.shape[1] == 1 else pixels


class ClassifierExtractor(FeatureExtractorBase):
    """A harness-trained classifier as a torch-fidelity feature extractor.

    Input: uint8 RGB batches (torch-fidelity's convention); a one-channel classifier reads
    the first channel. Features: ``features`` (penultimate layer; FID, KID, PR) and
    ``logits`` (IS, mode coverage).
    """

    stacked = False

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        saved = torch.load(feature_extractor_weights_path, map_location="cpu", weights_only=True)
        meta = saved["meta"]
        self.resolution = meta["resolution"]
        self.in_channels = meta["in_channels"]
        self.model = SmallCNN(
            meta["in_channels"], meta["num_classes"], json.loads(meta["recipe"])["width"]
        )
        self.model.load_state_dict(saved["state_dict"])

    @staticmethod
    def get_provided_features_list():
        return ("features", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "logits" if metric == "isc" else "features"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 8, 8, dtype=torch.uint8)

    def _classify(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.float() / 127.5 - 1
        if x.shape[-1] != self.resolution:
            x = F.interpolate(
                x, size=(self.resolution,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
        return self.model(x)

    def forward(self, x: torch.Tensor):
        if self.stacked:
            # Classify each channel; features concatenate, logits are the joint 1,000-way
            # log-probabilities of the triple (label = 100·d0 + 10·d1 + d2).
            outs = [self._classify(x[:, c : c + 1]) for c in range(3)]
            features = torch.cat([f for f, _ in outs], dim=1)
            lp = [logits.log_softmax(dim=1) for _, logits in outs]
            logits = (
                lp[0][:, :, None, None] + lp[1][:, None, :, None] + lp[2][:, None, None, :]
            ).flatten(1)
        else:
            features, logits = self._classify(x[:, : self.in_channels])
        out = {"features": features, "logits": logits}
        return tuple(out[name] for name in self.features_list)


class StackedClassifierExtractor(ClassifierExtractor):
    stacked = True


# Which classifier family scores which dataset: (family, extractor class).
FAMILIES = {
    "digits": ("digits", ClassifierExtractor),
    "stacked_digits": ("digits", StackedClassifierExtractor),
    "mnist": ("mnist", ClassifierExtractor),
    "stacked_mnist": ("mnist", StackedClassifierExtractor),
    "fashion_mnist": ("fashion_mnist", ClassifierExtractor),
    "cifar10": ("cifar10", ClassifierExtractor),
    # Translation tasks: a classifier of the target domain's real images (digits, inverted
    # digits, thick digits...), trained on the task's target training images.
    "digit_pairs": ("digit_translation", ClassifierExtractor),
    "digit_unpaired": ("digit_translation", ClassifierExtractor),
}


def _check_families() -> None:
    from harness.evaluate import classifier_datasets

    if set(FAMILIES) != set(classifier_datasets()):
        raise RuntimeError("FAMILIES and the datasets offering a classifier differ")


_check_families()


def _training_data(dataset: str, data_params: dict, data) -> tuple[tuple, tuple]:
    """What the classifier of this dataset is trained and tested on: the dataset's own splits;
    for (stacked) digits, the digits split the dataset uses, at the native 8×8 resolution; for
    stacked MNIST, MNIST's own splits from the same root, at the stacks' resolution."""
    from harness.data import load_dataset

    if dataset == "stacked_mnist":
        keep = ("root", "download", "resolution", "pad")
        mnist = load_dataset("mnist", {k: v for k, v in data_params.items() if k in keep})
        return (mnist.train_x, mnist.train_y), (mnist.test_x, mnist.test_y)
    if dataset not in ("digits", "stacked_digits"):
        return (data.train_x, data.train_y), (data.test_x, data.test_y)

    split_seed = data_params.get("split_seed", data_params.get("seed", 0))
    digits = load_dataset(
        "digits", {"test_fraction": data_params["test_fraction"], "split_seed": split_seed}
    )
    return (digits.train_x, digits.train_y), (digits.test_x, digits.test_y)


class FidelityBridge:
    """One torch-fidelity feature extractor, in-memory feature extraction, and the cached
    real-data reference features. ``layers`` maps "isc" and "fid" (FID, KID, PR, density and
    coverage) to the extractor's feature names."""

    def __init__(
        self, name, cls, weights_path, weights_hash, layers, data, device, cache_dir, tags
    ):
        from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor
        from torch_fidelity.utils import create_feature_extractor

        if name not in FEATURE_EXTRACTORS_REGISTRY:
            register_feature_extractor(name, cls)
        self.name, self.weights_path, self.weights_hash = name, str(weights_path), weights_hash
        self.layers, self.tags = layers, tags
        self.cuda = device.type == "cuda"
        self.extractor = create_feature_extractor(
            name,
            sorted(set(layers.values())),
            cuda=self.cuda,
            feature_extractor_weights_path=self.weights_path,
            verbose=False,
        )
        self.data, self.cache_dir = data, Path(cache_dir)
        self.reference_forward_passes = 0
        self._references: dict[tuple[str, int], dict] = {}
        self._reference_keys: dict[tuple[str, int], str] = {}
        self._radii: dict[tuple, torch.Tensor] = {}
        self.reference_cache_hit: bool | None = None

    def describe(self) -> dict[str, str]:
        return {
            "eval.extractor": self.name,
            "eval.extractor_weights_hash": self.weights_hash,
            "eval.feature_layers": json.dumps(self.layers, sort_keys=True),
            "eval.reference_split": "train",
            "eval.fidelity_kwargs": json.dumps(FIDELITY_KWARGS, sort_keys=True),
            **self.tags,
            **(
                {}
                if "isc" in self.layers
                else {
                    "eval.unavailable": "is: these Inception weights have no classification layer"
                }
            ),
        }

    @torch.no_grad()
    def features(self, images_uint8: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of in-memory uint8 images, batch by batch as torch-fidelity's own loop does
        (same batches, same extractor), without its per-item Dataset/DataLoader round trip."""
        if self.cuda:
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        parts: dict[str, list[torch.Tensor]] = {}
        for start in range(0, len(images_uint8), BATCH_SIZE):
            batch = images_uint8[start : start + BATCH_SIZE]
            batch = batch.cuda(non_blocking=True) if self.cuda else batch
            output = self.extractor.convert_features_tuple_to_dict(self.extractor(batch))
            for name, value in output.items():
                parts.setdefault(name, []).append(value.cpu())
        return {name: torch.cat(values) for name, values in parts.items()}

    def _reference_images(self, count: int, split: str) -> tuple[torch.Tensor, str]:
        """The first ``count`` real images of a split (uint8 RGB) and the hash of everything
        that determines their features: extractor, weights, data content, count, preprocessing."""
        images = self.data.train_x if split == "train" else self.data.test_x
        labels = self.data.train_y if split == "train" else self.data.test_y
        real = to_uint8_rgb(images[:count])
        identity = {
            "extractor": self.name,
            "weights": self.weights_hash,
            "data": data_hash(real, labels[:count]),
            "count": count,
            "preprocessing": PREPROCESSING_VERSION,
            "split": split,
        }
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
        return real, key

    def reference_count(self, count: int, split: str = "train") -> int:
        """How many real images a reference of ``count`` can have: the split may be smaller."""
        return min(count, len(self.data.train_x if split == "train" else self.data.test_x))

    def reference(self, count: int, split: str = "train") -> dict[str, torch.Tensor]:
        """Real-data features of the first ``count`` images of a split, cached on disk under a
        hash of extractor, weights, data content, count and preprocessing; the train split is
        what scores are reported against, the test split what the best checkpoint is chosen on."""
        count = self.reference_count(count, split)
        if (split, count) in self._references:
            self.reference_cache_hit = True
            return self._references[split, count]
        real, key = self._reference_images(count, split)
        path = self.cache_dir / "reference" / f"{key}.pt"
        if path.exists():
            features = torch.load(path, map_location="cpu", weights_only=True)
            self.reference_cache_hit = True
        else:
            features = self.features(real)
            self.reference_forward_passes += 1
            _atomic_save(features, path)
            self.reference_cache_hit = False
        self._references[split, count] = features
        self._reference_keys[split, count] = key
        return features

    def reference_radii(self, count: int, split: str, neighbourhood: int, batch_size: int):
        """Each reference sample's distance to its ``neighbourhood``-th nearest other reference
        sample in the metric layer (precision's ball radii), cached beside the features: they
        depend on the real data only, so only the first evaluation pays for them."""
        from harness.evaluate.neighbours import knn_radii

        count = self.reference_count(count, split)
        slot = (split, count, neighbourhood, batch_size)
        if slot not in self._radii:
            features = self.reference(count, split)[self.layers["fid"]]
            key = self._reference_keys[split, count]
            path = self.cache_dir / "reference" / f"{key}-radii-k{neighbourhood}-b{batch_size}.pt"
            if path.exists():
                radii = torch.load(path, map_location="cpu", weights_only=True)
            else:
                radii = knn_radii(features, neighbourhood, batch_size)
                _atomic_save(radii, path)
            self._radii[slot] = radii
        return self._radii[slot]


def _atomic_save(value, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(value, tmp)
    os.replace(tmp, path)


def classifier_bridge(
    dataset: str, data_params: dict, data, device, cache_dir: Path
) -> FidelityBridge:
    """The domain classifier of this dataset's family, trained (or loaded) and registered."""
    family, cls = FAMILIES[dataset]
    train, test = _training_data(dataset, data_params, data)
    _, meta = load_or_train(family, train, test, 10, cache_dir)
    tags = {
        "eval.extractor_kind": "domain-classifier",
        "eval.classifier_accuracy": f"{meta['accuracy']:.4f}",
    }
    name = f"ganbench-{dataset}-cls-{meta['hash']}"
    layers = {"isc": "logits", "fid": "features"}
    bridge = FidelityBridge(
        name, cls, meta["path"], meta["hash"], layers, data, device, cache_dir, tags
    )
    if cls.stacked:
        # What the stacked modes are counted with is the whole triple: tag its accuracy on
        # the dataset's own held-out triples, with the single-digit accuracy beside it.
        tags["eval.classifier_accuracy"] = f"{_joint_accuracy(bridge):.4f}"
        tags["eval.classifier_accuracy_digit"] = f"{meta['accuracy']:.4f}"
    return bridge


JOINT_ACCURACY_SAMPLES = 2000


def _joint_accuracy(bridge: FidelityBridge) -> float:
    """Accuracy of the stacked extractor on up to 2,000 held-out triples (all three digits
    right), cached beside the reference features."""
    x, y = bridge.data.test_x[:JOINT_ACCURACY_SAMPLES], bridge.data.test_y[:JOINT_ACCURACY_SAMPLES]
    images = to_uint8_rgb(x)
    key = hashlib.sha256(f"{bridge.name}:{data_hash(images, y)}".encode()).hexdigest()[:20]
    path = bridge.cache_dir / "reference" / f"{key}-joint-accuracy.json"
    if path.exists():
        return json.loads(path.read_text())["accuracy"]
    predicted = bridge.features(images)["logits"].argmax(dim=1)
    accuracy = float((predicted == y).double().mean())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"accuracy": accuracy, "count": len(y)}))
    os.replace(tmp, path)
    return accuracy


def inception_bridge(weights: Path, data, device, cache_dir: Path) -> FidelityBridge:
    """torch-fidelity's own ``inception-v3-compat`` extractor with local weights."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from harness.evaluate.inception import describe_weights

    info = describe_weights(weights)
    layers = {"isc": "logits_unbiased", "fid": "2048"} if info["has_logits"] else {"fid": "2048"}
    tags = {"eval.extractor_kind": "inception", "eval.inception_weights": info["source"]}
    return FidelityBridge(
        "inception-v3-compat",
        FeatureExtractorInceptionV3,
        weights,
        info["sha256"][:16],
        layers,
        data,
        device,
        cache_dir,
        tags,
    )
