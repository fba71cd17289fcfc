"""Datasets, registered by name with a strict parameter model and a lazily imported loader.

A loader takes its validated parameters and returns a ``LoadedData``: train and test tensors
held in memory (images in [-1, 1], NCHW; points as N×2), integer labels, and a ``DatasetInfo``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.registry import Registry

DATASETS = Registry("dataset")
RESOLUTIONS = (8, 16, 28, 32, 64)


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the harness needs to know about a dataset."""

    name: str
    kind: Literal["points", "images", "sequences"]
    shape: tuple[int, ...]
    num_classes: int
    mode_centres: tuple[tuple[float, float], ...] = ()
    mode_std: float = 0.0
    # The label as independent factors, most significant first (stacked digits: 10, 10, 10).
    label_factors: tuple[int, ...] = ()
    # Translation datasets: the shape of a source image (the samples are target images).
    source_shape: tuple[int, ...] = ()
    # Sequences: the tokens are 0 .. vocab_size − 1 (shape: the sequence length).
    vocab_size: int = 0


@dataclass
class LoadedData:
    train_x: Any
    train_y: Any
    test_x: Any
    test_y: Any
    info: DatasetInfo
    extra: dict = field(default_factory=dict)

    def streams(self) -> dict[str, tuple]:
        """The training streams recipes draw batches from, by name: tuples of aligned
        tensors. Always ``real`` (training images and labels); translation datasets add
        ``pairs`` (source, target, label) or ``A`` and ``B`` (each image, label)."""
        return self.extra.get("streams") or {"real": (self.train_x, self.train_y)}


class Params(BaseModel):
    """A dataset's parameters: unknown keys rejected, values not coerced (as suite keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RingParams(Params):
    radius: float = Field(2.0, gt=0)
    std: float = Field(0.02, gt=0)
    size: int = Field(20_000, gt=0, description="training points")
    test_size: int = Field(2_500, gt=0)
    seed: int = Field(0, description="seed of the data itself, shared by every cell")


class GridParams(Params):
    std: float = Field(0.05, gt=0)
    size: int = Field(20_000, gt=0)
    test_size: int = Field(2_500, gt=0)
    seed: int = 0


class DigitsParams(Params):
    resolution: Literal[8, 16, 28, 32, 64] = 8
    test_fraction: float = Field(0.2, gt=0, lt=1)
    split_seed: int = 0


class StackedDigitsParams(Params):
    resolution: Literal[8, 16, 28, 32, 64] = 8
    size: int = Field(10_000, gt=0)
    test_size: int = Field(2_000, gt=0)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 0


class TorchvisionParams(Params):
    root: str = Field("~/.cache/ganbench/datasets", description="local dataset root")
    download: bool = Field(False, description="download when missing (needs network)")
    resolution: Literal[8, 16, 28, 32, 64] | None = None
    pad: int = Field(
        0, ge=0, le=16, description="background pixels added on each side (after resizing)"
    )
    limit: int | None = Field(None, gt=0, description="use only the first N training images")


class StackedMnistParams(TorchvisionParams):
    size: int = Field(128_000, gt=0, description="training stacks (PacGAN: 128,000)")
    test_size: int = Field(10_000, gt=0, description="held-out stacks, from the test digits")
    seed: int = Field(0, description="which digits are stacked")


class OracleParams(Params):
    vocab: int = Field(500, ge=2, le=100_000, description="tokens (SeqGAN: 5,000)")
    length: int = Field(20, ge=1, le=1000, description="tokens per sequence (SeqGAN: 20)")
    embedding: int = Field(32, ge=1, description="the oracle's embedding size (SeqGAN: 32)")
    hidden: int = Field(32, ge=1, description="the oracle's LSTM units (SeqGAN: 32)")
    size: int = Field(10_000, gt=0, description="training sequences (SeqGAN: 10,000)")
    test_size: int = Field(10_000, gt=0, description="held-out sequences, for NLL-test")
    validation_size: int = Field(2_000, gt=0, description="sequences for the best checkpoint")
    seed: int = Field(0, ge=0, description="the oracle's parameters and samples")
    texygen_compat: bool = Field(
        False,
        description="Texygen's oracle distribution: LSTM gate weights and biases with std 10⁶ "
        "(embedding and output N(0, 1)); its own random draws cannot be reproduced",
    )


class CaptionParams(Params):
    root: str = Field(
        "../shared/data/coco-captions",
        description="folder with train.txt and test.txt, one caption per line",
    )


class ImageFolderParams(Params):
    root: str
    resolution: Literal[8, 16, 28, 32, 64] = 32
    channels: Literal[1, 3] = 3
    test_fraction: float = Field(0.1, ge=0, lt=1)
    split_seed: int = 0


TRANSLATION_MAPS = Literal["digit", "lowres", "edges", "thick", "inverted", "rot90"]


class DigitTranslationParams(Params):
    source: TRANSLATION_MAPS = Field(description="what the source images are: a map of the digit")
    target: TRANSLATION_MAPS = Field(description="what the target images are: a map of the digit")
    resolution: Literal[8, 16] = Field(
        8, description="image size; at 16 px the digits are upsampled before the maps apply"
    )

    @model_validator(mode="after")
    def _different(self):
        if self.source == self.target:
            raise ValueError(f"source and target are both '{self.source}'; allowed: two maps")
        return self


class DigitPairsParams(DigitTranslationParams):
    source: TRANSLATION_MAPS = "lowres"
    target: TRANSLATION_MAPS = "digit"


class DigitUnpairedParams(DigitTranslationParams):
    source: TRANSLATION_MAPS = "digit"
    target: TRANSLATION_MAPS = "inverted"


class TranslationFolderParams(Params):
    root: str
    resolution: Literal[8, 16, 28, 32, 64, 128, 256] = 256
    channels: Literal[1, 3] = 3


def register_dataset(
    name: str,
    target: str,
    params: type[Params],
    kind: str,
    doc: str,
    resolution: int = 0,
    offers: tuple[str, ...] = (),
    missing: str | None = None,
    missing_is_error: bool = False,
    cached: bool = False,
) -> None:
    """``kind``: a registered modality; ``resolution``: the native image size when
    ``params.resolution`` is unset (None); ``offers``: capabilities metrics may need
    (``harness.evaluate.CAPABILITIES``: known mode centres, a domain classifier, ...);
    ``missing``: "module:function" that says, from the params, why the data cannot be read
    on this machine (None when it can), for datasets read from local files;
    ``missing_is_error``: missing data fail validation (a user's own folder) rather than the
    run (a torchvision set, which ``download = true`` can fetch)."""
    DATASETS.register(
        name,
        target,
        doc=doc,
        params=params,
        kind=kind,
        resolution=resolution,
        offers=offers,
        missing=missing,
        missing_is_error=missing_is_error,
        cached=cached,
    )


def missing(name: str, params: dict) -> str | None:
    """Why dataset ``name`` cannot be read here with these params; None when it can (or when
    the dataset does not read local files)."""
    from harness.registry import load_path

    entry = DATASETS.entry(name)
    target = entry.meta.get("missing")
    if target is None:
        return None
    return load_path(target)(entry.meta["params"](**params))


register_dataset(
    "oracle_lstm",
    "harness.data.oracle:oracle_lstm",
    OracleParams,
    "sequences",
    "SeqGAN's synthetic oracle: an LSTM with N(0, 1) parameters; its samples are the data.",
    offers=("oracle",),
    cached=True,
)
register_dataset(
    "coco_captions",
    "harness.data.text:coco_captions",
    CaptionParams,
    "sequences",
    "Image COCO captions as Texygen ships them (10k train, 10k test), tokenised offline.",
    offers=("words",),
    missing="harness.data.text:caption_missing",
)
register_dataset(
    "ring8",
    "harness.data.synthetic:ring8",
    RingParams,
    "points",
    "8 Gaussians on a circle at angles 2πk/8 (VEEGAN/PacGAN protocol).",
    offers=("mode_centres",),
)
register_dataset(
    "grid25",
    "harness.data.synthetic:grid25",
    GridParams,
    "points",
    "25 Gaussians on a 5×5 grid at {-4,-2,0,2,4}², std 0.05.",
    offers=("mode_centres",),
)
register_dataset(
    "digits",
    "harness.data.digits:digits",
    DigitsParams,
    "images",
    "scikit-learn's 1,797 8×8 handwritten digits, with labels; optionally resized.",
    offers=("classifier",),
)
register_dataset(
    "stacked_digits",
    "harness.data.digits:stacked_digits",
    StackedDigitsParams,
    "images",
    "Three random digits as RGB channels: 1,000 modes, label = the triple.",
    offers=("classifier", "label_factors"),
)
register_dataset(
    "mnist",
    "harness.data.torchvision_sets:mnist",
    TorchvisionParams,
    "images",
    "MNIST through torchvision from a local root.",
    resolution=28,
    offers=("classifier",),
    missing="harness.data.torchvision_sets:mnist_missing",
)
register_dataset(
    "stacked_mnist",
    "harness.data.torchvision_sets:stacked_mnist",
    StackedMnistParams,
    "images",
    "Three MNIST digits as RGB channels (from a local MNIST): 1,000 modes, label = the triple.",
    resolution=28,
    offers=("classifier", "label_factors"),
    missing="harness.data.torchvision_sets:mnist_missing",
)
register_dataset(
    "fashion_mnist",
    "harness.data.torchvision_sets:fashion_mnist",
    TorchvisionParams,
    "images",
    "Fashion-MNIST through torchvision from a local root.",
    resolution=28,
    offers=("classifier",),
    missing="harness.data.torchvision_sets:fashion_mnist_missing",
)
register_dataset(
    "cifar10",
    "harness.data.torchvision_sets:cifar10",
    TorchvisionParams,
    "images",
    "CIFAR-10 through torchvision from a local root.",
    resolution=32,
    offers=("classifier",),
    missing="harness.data.torchvision_sets:cifar10_missing",
)
register_dataset(
    "image_folder",
    "harness.data.folders:image_folder",
    ImageFolderParams,
    "images",
    "A user's own images: root/<class>/<image> (torchvision ImageFolder).",
    missing="harness.data.folders:root_missing",
    missing_is_error=True,
)
register_dataset(
    "digit_pairs",
    "harness.data.translation:digit_pairs",
    DigitPairsParams,
    "images",
    "Paired translation on the 8×8 digits: source(x) → target(x), 1,397 train / 400 test.",
    resolution=8,
    offers=("classifier", "translation", "paired", "paired_target"),
)
register_dataset(
    "digit_unpaired",
    "harness.data.translation:digit_unpaired",
    DigitUnpairedParams,
    "images",
    "Unpaired translation on the 8×8 digits: source of one half ↔ target of the other.",
    resolution=8,
    offers=("classifier", "translation", "unpaired", "paired_target"),
)
register_dataset(
    "paired_folder",
    "harness.data.translation_folders:paired_dataset",
    TranslationFolderParams,
    "images",
    "A user's paired translation data: root/train|test/<image>, source | target side by side.",
    offers=("translation", "paired", "paired_target"),
    missing="harness.data.translation_folders:root_missing",
    missing_is_error=True,
)
register_dataset(
    "unpaired_folder",
    "harness.data.translation_folders:unpaired_dataset",
    TranslationFolderParams,
    "images",
    "A user's unpaired translation data: root/trainA, trainB, testA, testB.",
    offers=("translation", "unpaired"),
    missing="harness.data.translation_folders:root_missing",
    missing_is_error=True,
)


def load_dataset(name: str, params: dict, cache_dir: Path | None = None) -> LoadedData:
    """Load a registered dataset with validated parameters; a dataset registered ``cached``
    keeps what it generates under ``cache_dir``/datasets when one is given."""
    entry = DATASETS.entry(name)
    validated = entry.meta["params"](**params)
    if entry.meta.get("cached") and cache_dir is not None:
        return entry.load()(validated, cache_dir=Path(cache_dir) / "datasets")
    return entry.load()(validated)
