"""Suite TOML → typed, frozen specs; matrix expansion; spec hashing.

Every error is turned into one line that names the file, the key, what is allowed and, for
names, the closest registered one. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.registry import Registry, did_you_mean

# Bump when the meaning of a resolved spec changes for every cell, so old results are not
# reused. A change to one net, loss, penalty or dataset bumps that entry's own ``version``
# instead (see ``code_versions``), which changes the hash of exactly the cells that use it.
SPEC_PROTOCOL = 1


class SuiteError(ValueError):
    """A suite file that cannot be used; ``str()`` is the one-line message for the user."""


class Strict(BaseModel):
    """Unknown keys are errors and nothing is coerced: a string for a number, a float for an
    int or an int for a bool is rejected (TOML has the types; a wrong one is a mistake)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# TOML arrays arrive as lists; strict mode would reject them for tuple fields.
Pair = Annotated[tuple[float, float], BeforeValidator(_list_to_tuple)]
Names = Annotated[tuple[str, ...], BeforeValidator(_list_to_tuple)]
Numbers = Annotated[tuple[float, ...], BeforeValidator(_list_to_tuple)]


def _check_name(registry: Registry, name: str | None) -> str | None:
    if name is not None:
        registry.entry(name)  # raises UnknownNameError, a ValueError, with did-you-mean
    return name


# ---------------------------------------------------------------------------------------
# The axes of a variant.


def _optimizer_name(value: str | None) -> str | None:
    from harness.variants.optimizers import OPTIMIZERS

    return _check_name(OPTIMIZERS, value)


class OptimizerSpec(Strict):
    name: str = "adam"
    lr: float = Field(2e-4, gt=0)
    betas: Pair = (0.5, 0.999)
    momentum: float = Field(0.0, ge=0)
    weight_decay: float = Field(0.0, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _optimizer_name(value)


class OptimizerOverride(Strict):
    name: str | None = None
    lr: float | None = Field(None, gt=0)
    betas: Pair | None = None
    momentum: float | None = Field(None, ge=0)
    weight_decay: float | None = Field(None, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _optimizer_name(value)


class VariantSpec(Strict):
    """A fully resolved variant: one value on every axis.

    Axes added after spec protocol 1 go in ``ADDED_AXES``: they enter a cell's hash only when
    set away from their default, so adding an axis leaves every existing cell's hash as it was.
    """

    ADDED_AXES: typing.ClassVar[frozenset[str]] = frozenset(
        {
            "recipe",
            "pack",
            "attention",
            "g_spectral",
            "d_width",
            "shared_embedding",
            "hierarchical_z",
            "ortho_reg",
            "init",
        }
    )

    preset: str
    recipe: str = Field("adversarial", description="the training recipe; the preset names it")
    architecture: str = "mlp"
    loss: str = "nonsaturating"
    penalty: str = "none"
    penalty_weight: float = Field(10.0, ge=0)
    clip_value: float = Field(0.01, gt=0)
    normalization: str = "none"
    conditional: bool = False
    g_opt: OptimizerSpec = OptimizerSpec()
    d_opt: OptimizerSpec = OptimizerSpec()
    d_steps: int = Field(1, ge=1)
    ema: float = Field(0.0, ge=0, lt=1, description="G EMA decay; 0 turns EMA off")
    batch_size: int = Field(64, ge=1)
    latent_dim: int = Field(64, ge=1)
    width: int = Field(128, ge=1, description="hidden units (MLP) or base channels (conv)")
    depth: int = Field(3, ge=1, description="hidden layers of the MLP")
    pack: int = Field(1, ge=1, description="PacGAN: samples D judges at once (1: no packing)")
    attention: int = Field(0, ge=0, description="feature size of G's and D's self-attention")
    g_spectral: bool = Field(False, description="spectral normalisation of G's weight layers")
    d_width: int = Field(0, ge=0, description="D's width when not width (resnet, maxout)")
    shared_embedding: int = Field(0, ge=0, description="BigGAN shared class embedding size")
    hierarchical_z: bool = Field(False, description="BigGAN: a chunk of z per G block")
    ortho_reg: float = Field(0.0, ge=0, description="BigGAN orthogonal regularisation of G")
    init: Literal["default", "orthogonal"] = Field("default", description="weight init")


# Axes only some architectures implement, and which: set elsewhere, they are an error.
ARCHITECTURE_AXES = {
    "shared_embedding": ("resnet",),
    "hierarchical_z": ("resnet",),
    "attention": ("resnet",),
    "g_spectral": ("resnet",),
    "d_width": ("resnet", "maxout"),
}


class VariantEntry(Strict):
    """A variant as written in a suite: a preset plus optional overrides of any axis."""

    preset: str
    name: str | None = Field(None, min_length=1)
    datasets: Names | None = Field(
        None, min_length=1, description="labels of the suite's datasets it runs on (all)"
    )
    architecture: str | None = None
    loss: str | None = None
    penalty: str | None = None
    penalty_weight: float | None = Field(None, ge=0)
    clip_value: float | None = Field(None, gt=0)
    normalization: str | None = None
    conditional: bool | None = None
    g_opt: OptimizerOverride | None = None
    d_opt: OptimizerOverride | None = None
    d_steps: int | None = Field(None, ge=1)
    ema: float | None = Field(None, ge=0, lt=1)
    batch_size: int | None = Field(None, ge=1)
    latent_dim: int | None = Field(None, ge=1)
    width: int | None = Field(None, ge=1)
    depth: int | None = Field(None, ge=1)
    pack: int | None = Field(None, ge=1)
    attention: int | None = Field(None, ge=0)
    g_spectral: bool | None = None
    d_width: int | None = Field(None, ge=0)
    shared_embedding: int | None = Field(None, ge=0)
    hierarchical_z: bool | None = None
    ortho_reg: float | None = Field(None, ge=0)
    init: Literal["default", "orthogonal"] | None = None

    @field_validator("preset")
    @classmethod
    def _preset(cls, value: str) -> str:
        from harness.variants import PRESETS

        return _check_name(PRESETS, value)

    @field_validator("architecture", "loss", "penalty", "normalization")
    @classmethod
    def _axis(cls, value: str | None, info) -> str | None:
        import harness.variants as variants

        registry = {
            "architecture": variants.ARCHITECTURES,
            "loss": variants.LOSSES,
            "penalty": variants.PENALTIES,
            "normalization": variants.NORMALIZATIONS,
        }[info.field_name]
        return _check_name(registry, value)

    @property
    def display_name(self) -> str:
        return self.name or self.preset

    def runs_on(self, dataset: DatasetEntry) -> bool:
        return self.datasets is None or dataset.display_name in self.datasets

    def resolve(self, kind: str) -> VariantSpec:
        """The preset's axes for this dataset kind, with this entry's overrides on top."""
        from harness.variants import ARCHITECTURES, PRESETS

        kinds = PRESETS.meta(self.preset).get("kinds", ("points", "images"))
        if kind not in kinds:
            fits = [n for n in PRESETS.names() if kind in PRESETS.meta(n).get("kinds", (kind,))]
            raise ValueError(
                f"preset '{self.preset}' fits {' and '.join(kinds)} datasets, not {kind}; "
                f"allowed on {kind}: {', '.join(fits)}; or run it on some datasets only "
                "(datasets = [...])"
            )
        values: dict[str, Any] = {"preset": self.preset, **PRESETS.get(self.preset)(kind)}
        for key, value in self.model_dump(
            exclude={"preset", "name", "datasets"}, exclude_none=True
        ).items():
            if isinstance(value, dict):
                value = {**values.get(key, {}), **value}
            values[key] = value
        spec = VariantSpec(**values)
        if (
            spec.architecture == "mlp"
            and spec.depth < 2
            and spec.normalization in ("batch", "layer")
        ):
            raise ValueError(
                f"normalization '{spec.normalization}' acts on the MLP discriminator's hidden "
                "layers after its input layer; allowed: depth >= 2, or normalization none/spectral"
            )
        for axis, architectures in ARCHITECTURE_AXES.items():
            default = VariantSpec.model_fields[axis].get_default()
            if getattr(spec, axis) != default and spec.architecture not in architectures:
                raise ValueError(
                    f"{axis} is implemented by the {', '.join(architectures)} architecture, "
                    f"not '{spec.architecture}'; allowed: {axis} = {default!r} (its default) "
                    f"or architecture = {' or '.join(architectures)}"
                )
        if spec.conditional and not ARCHITECTURES.meta(spec.architecture).get("conditional", 1):
            raise ValueError(
                f"architecture '{spec.architecture}' is unconditional; allowed: conditional = "
                "false, or another architecture"
            )
        if spec.shared_embedding and not spec.conditional:
            raise ValueError(
                "shared_embedding embeds the class label (BigGAN); allowed: shared_embedding = "
                "0 for an unconditional variant, or conditional = true"
            )
        if spec.pack > 1 and spec.conditional:
            raise ValueError(
                f"pack {spec.pack} packs unconditional samples (PacGAN); allowed: pack = 1 "
                "for a conditional variant"
            )
        if kind not in ARCHITECTURES.meta(spec.architecture)["kinds"]:
            raise ValueError(
                f"architecture '{spec.architecture}' does not fit {kind} datasets; allowed: "
                + ", ".join(
                    n for n in ARCHITECTURES.names() if kind in ARCHITECTURES.meta(n)["kinds"]
                )
            )
        return spec


# ---------------------------------------------------------------------------------------
# The suite file.


class FallbackDataset(Strict):
    """The dataset a suite entry uses when its own data are not on this machine."""

    name: str
    params: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        from harness.data import DATASETS

        return _check_name(DATASETS, value)


class DatasetEntry(Strict):
    name: str
    label: str | None = Field(None, min_length=1, description="display name; defaults to name")
    params: dict[str, Any] = {}
    fallback: FallbackDataset | None = Field(
        None,
        description="the dataset to use (same label, its own name and params) when this one's "
        "files are not found locally, e.g. stacked digits for stacked MNIST",
    )
    # Why the fallback replaced the dataset named in the file ("" when it did not).
    _fallback_reason: str = PrivateAttr("")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        from harness.data import DATASETS

        return _check_name(DATASETS, value)

    @model_validator(mode="after")
    def _params(self) -> DatasetEntry:
        self.resolved_params()
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _fallback(cls, data: Any, handler) -> DatasetEntry:
        """The entry as written, or, when its data are not on this machine and it names a
        fallback, the fallback under the same label (saying why in ``fallback_reason``)."""
        entry = handler(data)
        if entry.fallback is None:
            return entry
        from harness.data import missing

        used = handler({"name": entry.fallback.name, "params": entry.fallback.params})
        if used.kind != entry.kind:
            raise ValueError(
                f"fallback.name: '{used.name}' holds {used.kind}, not {entry.kind} like "
                f"'{entry.name}'; allowed: a dataset of the same kind"
            )
        reason = missing(entry.name, entry.resolved_params())
        if not reason:
            return entry
        used = handler({"name": used.name, "params": used.params, "label": entry.display_name})
        used._fallback_reason = f"{reason}: using {used.name} instead"
        return used

    @property
    def fallback_reason(self) -> str:
        """Why this entry runs on its fallback dataset ("" when it runs on its own)."""
        return self._fallback_reason

    @property
    def display_name(self) -> str:
        return self.label or self.name

    @property
    def kind(self) -> str:
        from harness.data import DATASETS

        return DATASETS.meta(self.name)["kind"]

    @property
    def resolution(self) -> int | None:
        """The image size the nets are built for (None for points)."""
        from harness.data import DATASETS

        if self.kind != "images":
            return None
        return self.resolved_params().get("resolution") or DATASETS.meta(self.name)["resolution"]

    def resolved_params(self) -> dict[str, Any]:
        """The dataset's parameters with defaults filled in, validated by its own model."""
        from harness.data import DATASETS

        model = DATASETS.meta(self.name)["params"]
        try:
            return model(**self.params).model_dump()
        except ValidationError as error:
            detail = error.errors()[0]
            key = ".".join(str(p) for p in detail["loc"])
            if detail["type"] == "extra_forbidden":
                allowed = list(model.model_fields)
                raise ValueError(
                    f"params.{key}: unknown parameter of dataset '{self.name}'; allowed: "
                    f"{', '.join(allowed)}{did_you_mean(key, allowed)}"
                ) from None
            got = f" (got {detail['input']!r})" if "input" in detail else ""
            raise ValueError(f"params.{key}: {detail['msg']}{got}") from None


class BudgetSpec(Strict):
    kimg: float | None = Field(None, gt=0, description="thousands of real images shown to D")
    g_steps: int | None = Field(None, gt=0, description="generator steps")
    ticks: int = Field(10, ge=1, description="stats, samples and a checkpoint every tick")
    max_minutes: float | None = Field(None, gt=0, description="wall-clock cap per cell")
    diverge_above: float = Field(
        1e20, gt=0, description="a run whose |loss| exceeds this (or is NaN/Inf) ends diverged"
    )

    @model_validator(mode="after")
    def _one_budget(self) -> BudgetSpec:
        if (self.kimg is None) == (self.g_steps is None):
            raise ValueError("give exactly one of kimg or g_steps")
        return self


class EvaluationSpec(Strict):
    metrics: Names | None = Field(
        None, description="metric names; default: every registered metric that fits the dataset"
    )
    num_samples: int = Field(2500, ge=1)
    mode_samples: int | None = Field(
        None,
        ge=1,
        description="samples for the class-count metrics (modes_covered, reverse_kl, "
        "label_agreement) on images; default num_samples. Stacked MNIST papers use 26,000",
    )
    is_splits: int = Field(
        10,
        ge=1,
        description="Inception Score splits (10 as Salimans et al.); other counts are in the "
        "name (is_2500_1split_cls): with few samples per split IS is biased low",
    )
    every_ticks: int = Field(1, ge=1, description="evaluate every N ticks and at the end")
    seed: int = Field(2014, description="seed of the suite-wide latent bank")
    extractor: Literal["classifier", "inception"] = Field(
        "classifier",
        description="features for IS/FID/KID/PR: the domain classifier or Inception-v3",
    )
    inception_weights: str | None = Field(None, description="local Inception-v3 weights file")
    truncation: Numbers = Field(
        (),
        description="also score samples from a normal truncated at each of these thresholds "
        "(BigGAN's truncation trick; the metric names carry _trunc<t>); untruncated always",
    )

    @field_validator("truncation")
    @classmethod
    def _truncation(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(t <= 0 for t in value) or len(set(value)) != len(value):
            raise ValueError("truncation thresholds must be distinct and > 0")
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        from harness.evaluate import METRICS

        for name in value or ():
            _check_name(METRICS, name)
        return value


class TrackingSpec(Strict):
    experiment: str | None = Field(None, min_length=1)


# ---------------------------------------------------------------------------------------
# Hyperparameter studies.


class SearchParam(Strict):
    """One dimension of a study's search space."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)
    choices: list[bool | int | float | str] | None = None

    @model_validator(mode="after")
    def _shape(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.log:
                raise ValueError("a categorical parameter takes 'choices', not low/high/log")
            return self
        if self.choices is not None:
            raise ValueError(f"a {self.type} parameter takes low/high, not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs both 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs low > 0 (got {self.low:g})")
        if self.log and self.step is not None:
            raise ValueError("'step' and 'log' cannot be used together")
        if self.type == "int" and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            raise ValueError("an int parameter needs whole-number low and high")
        return self

    def endpoints(self) -> list:
        if self.type == "categorical":
            return list(self.choices or [])
        if self.type == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


class SamplerSpec(Strict):
    name: Literal["tpe", "random", "cmaes", "gp"] = "tpe"
    seed: int = 0


class PrunerSpec(Strict):
    name: Literal["median", "successive_halving", "hyperband", "none"] = "median"
    startup_trials: int = Field(5, ge=0, description="median: trials finished before pruning")
    warmup_ticks: int = Field(1, ge=0, description="median: evaluations before a trial is judged")


class ProtocolSpec(Strict):
    """compare_gan's protocol: a wide search (the study), a narrow search around the best
    wide trials, then the top-k configurations re-run over more seeds."""

    narrow_trials: int = Field(0, ge=0, description="trials of the narrow phase; 0 skips it")
    narrow_from: int = Field(5, ge=1, description="best wide trials the narrow space spans")
    top_k: int = Field(3, ge=1)
    final_seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)


class StudySpec(Strict):
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    variant: str | None = Field(None, description="the suite variant to tune (its name)")
    dataset: str | None = Field(None, description="the suite dataset to tune on (its label)")
    objective: str
    trials: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    seeds: list[int] | None = Field(None, min_length=1, description="default: the suite's")
    sampler: SamplerSpec = SamplerSpec()
    pruner: PrunerSpec = PrunerSpec()
    space: dict[str, SearchParam] = Field(min_length=1)
    protocol: ProtocolSpec | None = None
    heartbeat_seconds: int = Field(10, ge=1, description="a silent trial is stale after 3x this")

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: str) -> str:
        from harness.evaluate import METRICS

        return _check_name(METRICS, value)

    @model_validator(mode="after")
    def _size(self) -> StudySpec:
        if self.trials is None and self.max_minutes is None:
            raise ValueError("study: give trials, max_minutes, or both")
        return self


# Study paths: the axes a study may search (every VariantEntry field but preset and name,
# and the optimiser fields under g_opt./d_opt.).
def searchable_paths() -> list[str]:
    paths = []
    for name in VariantEntry.model_fields:
        if name in ("preset", "name", "datasets"):
            continue
        if name in ("g_opt", "d_opt"):
            paths += [f"{name}.{key}" for key in OptimizerOverride.model_fields if key != "betas"]
        else:
            paths.append(name)
    return paths


def apply_params(entry: VariantEntry, params: dict[str, Any]) -> VariantEntry:
    """``entry`` with dotted ``params`` (e.g. ``g_opt.lr``) set; validated like a suite entry."""
    data = entry.model_dump(exclude_none=True)
    for path, value in params.items():
        head, _, tail = path.partition(".")
        if tail:
            data[head] = {**data.get(head, {}), tail: value}
        else:
            data[head] = value
    return VariantEntry(**data)


def _field_type(path: str) -> type:
    head, _, tail = path.partition(".")
    model, name = (OptimizerOverride, tail) if tail else (VariantEntry, head)
    args = [a for a in typing.get_args(model.model_fields[name].annotation) if a is not type(None)]
    return args[0] if args else model.model_fields[name].annotation


class PublishedEntry(Strict):
    """A published number the suite replays, stored beside it: ``ganbench report`` puts it
    next to the reproduced one with the budget ratio and a verdict."""

    variant: str = Field(description="a variant label of this suite")
    dataset: str = Field(description="a dataset label of this suite")
    metric: str = Field(description="the logged metric name, protocol included")
    checkpoint: Literal["final", "best"] = Field(
        "final", description="the reproduced value to compare: final, or the best checkpoint's"
    )
    value: float
    spread: float | None = Field(None, ge=0, description="± as published (std over runs)")
    runs: int | None = Field(None, ge=1, description="runs the published value averages")
    samples: int | None = Field(None, ge=1, description="samples each evaluation used")
    budget_kimg: float | None = Field(None, gt=0, description="images shown to D, thousands")
    budget_g_steps: int | None = Field(None, gt=0, description="generator steps")
    source: str = Field(min_length=1, description="paper, table and where the value was read")
    measured_on: str | None = Field(
        None,
        description="the registered dataset the published value was measured on, when the "
        "suite's dataset may fall back to another (runs on another one are not compared)",
    )

    @field_validator("measured_on")
    @classmethod
    def _measured_on(cls, value: str | None) -> str | None:
        from harness.data import DATASETS

        return _check_name(DATASETS, value)

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        from harness.evaluate import METRICS, metric_base

        if metric_base(value) is None:
            raise ValueError(
                f"'{value}' names no registered metric; allowed: a logged name of one of "
                f"{', '.join(METRICS.names())}"
            )
        return value


class NightlySpec(Strict):
    """How ``ganbench nightly`` decides a cell regressed: a mean change larger than the
    tolerance (the larger of ``tolerance[metric]``, default ``default_tolerance``, times
    |baseline mean| and ``absolute_tolerance[metric]``) that is significant (paired t-test over
    seeds, Welch's when the seeds differ, at ``alpha``) or shown by every one of >= 3 seeds."""

    alpha: float = Field(0.05, gt=0, lt=1)
    default_tolerance: float = Field(0.05, ge=0, description="relative to the baseline mean")
    tolerance: dict[str, float] = {}
    absolute_tolerance: dict[str, float] = {}

    @field_validator("tolerance", "absolute_tolerance")
    @classmethod
    def _metric_names(cls, value: dict[str, float]) -> dict[str, float]:
        from harness.evaluate import METRICS

        for name, amount in value.items():
            _check_name(METRICS, name)
            if amount < 0:
                raise ValueError(f"{name}: a tolerance cannot be negative (got {amount})")
        return value


class SuiteSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = "1"
    description: str = ""
    datasets: list[DatasetEntry] = Field(min_length=1)
    variants: list[VariantEntry] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    budget: BudgetSpec
    evaluation: EvaluationSpec = EvaluationSpec()
    tracking: TrackingSpec = TrackingSpec()
    study: StudySpec | None = None
    nightly: NightlySpec = NightlySpec()
    published: list[PublishedEntry] = []

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("seeds must be distinct")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> SuiteSpec:
        from harness.evaluate import metric_applies, needs_text

        for field_name, entries in (("variants", self.variants), ("datasets", self.datasets)):
            names = [e.display_name for e in entries]
            for name in names:
                if names.count(name) > 1:
                    raise ValueError(
                        f"{field_name}: two entries are called '{name}'; give one a name/label"
                    )
        labels = [d.display_name for d in self.datasets]
        variants = [v.display_name for v in self.variants]
        for index, entry in enumerate(self.published):
            for field_name, value, allowed in (
                ("variant", entry.variant, variants),
                ("dataset", entry.dataset, labels),
            ):
                if value not in allowed:
                    raise ValueError(
                        f"published[{index}].{field_name}: '{value}' is not a {field_name} of "
                        f"this suite; allowed: {', '.join(allowed)}{did_you_mean(value, allowed)}"
                    )
        for index, variant in enumerate(self.variants):
            for label in variant.datasets or ():
                if label not in labels:
                    raise ValueError(
                        f"variants[{index}].datasets: '{label}' is not a dataset of this suite; "
                        f"allowed: {', '.join(labels)}{did_you_mean(label, labels)}"
                    )
        for metric in self.evaluation.metrics or ():
            extractor = self.evaluation.extractor
            if not any(metric_applies(metric, d.name, d.kind, extractor) for d in self.datasets):
                raise ValueError(
                    f"evaluation.metrics: '{metric}' applies to none of this suite's datasets "
                    f"(it needs {needs_text(metric)})"
                )
        from harness.variants.nets.layout import check_layout

        for d_index, dataset in enumerate(self.datasets):
            if dataset.kind != "images":
                continue
            for index, variant in enumerate(self.variants):
                if not variant.runs_on(dataset):
                    continue
                try:
                    spec = variant.resolve("images")
                    check_layout(
                        spec.architecture,
                        dataset.resolution,
                        spec.attention,
                        spec.latent_dim,
                        spec.hierarchical_z,
                    )
                except (ValueError, ValidationError) as error:
                    raise ValueError(
                        f"variants[{index}] on datasets[{d_index}] ('{dataset.display_name}'): "
                        f"{_first_message(error)}"
                    ) from None
        for kind in sorted({d.kind for d in self.datasets}):
            seen: dict[str, int] = {}
            for index, variant in enumerate(self.variants):
                if not any(variant.runs_on(d) for d in self.datasets if d.kind == kind):
                    continue
                try:
                    resolved = variant.resolve(kind).model_dump_json()
                except (ValueError, ValidationError) as error:
                    raise ValueError(f"variants[{index}]: {_first_message(error)}") from None
                if resolved in seen:
                    first = self.variants[seen[resolved]].display_name
                    raise ValueError(
                        f"variants[{index}]: '{variant.display_name}' resolves to the same "
                        f"configuration as '{first}' on {kind} data, so they would be one cell; "
                        "change an axis or drop one"
                    )
                seen[resolved] = index
        if self.study is not None:
            self._check_study(self.study)
        return self

    def _pick(self, field_name: str, wanted: str | None, entries: list):
        names = [e.display_name for e in entries]
        if wanted is None:
            if len(entries) > 1:
                raise ValueError(
                    f"study.{field_name[:-1]}: the suite has several {field_name}; name one of: "
                    + ", ".join(names)
                )
            return entries[0]
        if wanted not in names:
            raise ValueError(
                f"study.{field_name[:-1]}: '{wanted}' is not one of the suite's {field_name}; "
                f"allowed: {', '.join(names)}{did_you_mean(wanted, names)}"
            )
        return entries[names.index(wanted)]

    def _check_study(self, study: StudySpec) -> None:
        from harness.evaluate import metric_applies

        variant = self._pick("variants", study.variant, self.variants)
        dataset = self._pick("datasets", study.dataset, self.datasets)
        if not metric_applies(
            study.objective, dataset.name, dataset.kind, self.evaluation.extractor
        ):
            raise ValueError(
                f"study.objective: '{study.objective}' is not computed on dataset "
                f"'{dataset.display_name}'"
            )
        if self.evaluation.metrics is not None and study.objective not in self.evaluation.metrics:
            raise ValueError(
                f"study.objective: '{study.objective}' is not in evaluation.metrics; allowed: "
                + ", ".join(self.evaluation.metrics)
            )
        allowed = searchable_paths()
        for path, param in study.space.items():
            if path not in allowed:
                raise ValueError(
                    f"study.space.{path}: names no hyperparameter of a variant; allowed: "
                    f"{', '.join(allowed)}{did_you_mean(path, allowed)}"
                )
            kind = _field_type(path)
            kind_name = getattr(kind, "__name__", "categorical")
            if param.type == "float" and kind is not float:
                raise ValueError(
                    f"study.space.{path}: is a {kind_name} axis; use type = "
                    + ('"int" or "categorical"' if kind is int else '"categorical"')
                )
            if param.type == "int" and kind not in (int, float):
                raise ValueError(
                    f'study.space.{path}: is a {kind_name} axis; use type = "categorical"'
                )
            for value in param.endpoints():
                try:
                    apply_params(variant, {path: value}).resolve(dataset.kind)
                except (ValueError, ValidationError) as error:
                    raise ValueError(
                        f"study.space.{path}: value {value!r} is not allowed: "
                        f"{_first_message(error)}"
                    ) from None

    def study_target(self) -> tuple[VariantEntry, DatasetEntry]:
        """The variant and dataset the study tunes."""
        assert self.study is not None
        return (
            self._pick("variants", self.study.variant, self.variants),
            self._pick("datasets", self.study.dataset, self.datasets),
        )

    @property
    def experiment(self) -> str:
        return self.tracking.experiment or f"ganbench/{self.name}"


# ---------------------------------------------------------------------------------------
# Loading and error messages.


def _first_message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        detail = error.errors()[0]
        key = ".".join(str(p) for p in detail["loc"])
        return f"{key}: {detail['msg']}" if key else detail["msg"]
    return str(error)


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model class that holds the last key of a pydantic error location."""
    model: Any = SuiteSpec
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = None
        for candidate in (field.annotation, *typing.get_args(field.annotation)):
            for inner in (candidate, *typing.get_args(candidate)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    model = inner
    return model


def _format_loc(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def format_validation_error(error: ValidationError) -> str:
    """One line for the first problem pydantic found."""
    detail = error.errors()[0]
    loc = tuple(p for p in detail["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    key = _format_loc(loc)
    if not key:  # a check across keys: its message names them
        return detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = list(parent.model_fields) if parent else []
        return (
            f"{key}: unknown key; allowed: {', '.join(allowed)}"
            f"{did_you_mean(str(loc[-1]), allowed)}"
        )
    message = detail["msg"].removeprefix("Value error, ")
    if detail["type"] == "missing":
        return f"{key}: required key is missing"
    if detail["type"] not in ("value_error", "assertion_error") and "input" in detail:
        message += f" (got {detail['input']!r})"
    return f"{key}: {message}"


def load_suite(path: str | Path) -> SuiteSpec:
    """Read and validate a suite file; raises ``SuiteError`` with a one-line message."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"{path}: no such suite file") from None
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{path}: invalid TOML: {error}") from None
    try:
        return SuiteSpec(**raw)
    except ValidationError as error:
        raise SuiteError(f"{path}: {format_validation_error(error)}") from None
    except TypeError as error:
        raise SuiteError(f"{path}: {error}") from None


# ---------------------------------------------------------------------------------------
# Expansion into cells.

# Evaluation keys that change only what is scored, never the training: like the metric list,
# they are left out of a cell's identity (``ganbench eval`` fills their scores in later).
EVAL_ONLY = ("mode_samples", "is_splits", "truncation")


@dataclass(frozen=True)
class RunSpec:
    """One cell of the matrix: a variant on a dataset under a seed, fully resolved."""

    suite: str
    suite_version: str
    experiment: str
    dataset_label: str
    dataset: str
    dataset_params: dict
    dataset_kind: str
    variant_name: str
    variant: VariantSpec
    seed: int
    budget: BudgetSpec
    evaluation: EvaluationSpec

    def identity(self) -> dict[str, Any]:
        """Everything that determines the cell's results; what the hash covers."""
        identity = {
            "protocol": SPEC_PROTOCOL,
            "dataset": {"name": self.dataset, "params": self.dataset_params},
            "variant": without_new_defaults(self.variant, type(self.variant).ADDED_AXES),
            "seed": self.seed,
            "budget": self.budget.model_dump(mode="json", exclude={"max_minutes"}),
            # Which metrics and extractor score a cell does not change its training: adding a
            # metric must not retrain anything (``ganbench eval`` adds it to finished runs).
            "evaluation": self.evaluation.model_dump(
                mode="json", exclude={"metrics", "extractor", "inception_weights", *EVAL_ONLY}
            ),
        }
        versions = code_versions(self.dataset, self.variant)
        if versions:  # only entries changed since their first version, so adding one is free
            identity["code"] = versions
        return identity

    @property
    def spec_hash(self) -> str:
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def cell_name(self) -> str:
        return f"{self.variant_name}/{self.dataset_label}/seed={self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain JSON-able data (params and artifact in MLflow)."""
        return {
            "suite": self.suite,
            "suite_version": self.suite_version,
            "variant_name": self.variant_name,
            "dataset_label": self.dataset_label,
            "dataset_kind": self.dataset_kind,
            **self.identity(),
            "budget": self.budget.model_dump(mode="json"),
            "evaluation": self.evaluation.model_dump(mode="json", exclude={"inception_weights"}),
            "spec_hash": self.spec_hash,
        }


def without_new_defaults(model: BaseModel, added: frozenset[str]) -> dict[str, Any]:
    """``model`` as JSON data, leaving out the ``added`` fields that still hold their default."""
    data = model.model_dump(mode="json")
    for name in added:
        if getattr(model, name) == type(model).model_fields[name].get_default():
            data.pop(name, None)
    return data


def code_versions(dataset: str, variant: VariantSpec) -> dict[str, int]:
    """The versions (above 1) of the registered code a cell runs: its dataset loader, its nets,
    its loss, its penalty and its normalisation. Each entry's version is bumped whenever its
    behaviour changes (a test pins each entry's source to its version)."""
    from harness.data import DATASETS
    from harness.recipes import RECIPES
    from harness.variants import ARCHITECTURES, LOSSES, NORMALIZATIONS, PENALTIES

    used = (
        ("dataset", DATASETS, dataset),
        ("recipe", RECIPES, variant.recipe),
        ("architecture", ARCHITECTURES, variant.architecture),
        ("loss", LOSSES, variant.loss),
        ("penalty", PENALTIES, variant.penalty),
        ("normalization", NORMALIZATIONS, variant.normalization),
    )
    versions = {
        f"{axis}:{name}": registry.meta(name).get("version", 1) for axis, registry, name in used
    }
    return {key: version for key, version in versions.items() if version > 1}


def expand(suite: SuiteSpec) -> list[RunSpec]:
    """The variant × dataset × seed matrix, in a stable order."""
    from harness.evaluate import METRICS, metric_applies

    cells = []
    requested = suite.evaluation.metrics
    if requested is None:
        requested = tuple(METRICS.names())
    for dataset in suite.datasets:
        kind = dataset.kind
        metrics = tuple(
            m
            for m in requested
            if metric_applies(m, dataset.name, kind, suite.evaluation.extractor)
        )
        evaluation = suite.evaluation.model_copy(update={"metrics": metrics})
        params = dataset.resolved_params()
        for variant in suite.variants:
            if not variant.runs_on(dataset):
                continue
            resolved = variant.resolve(kind)
            for seed in suite.seeds:
                cells.append(
                    RunSpec(
                        suite.name,
                        suite.version,
                        suite.experiment,
                        dataset.display_name,
                        dataset.name,
                        params,
                        kind,
                        variant.display_name,
                        resolved,
                        seed,
                        suite.budget,
                        evaluation,
                    )
                )
    return cells


def parse_only(text: str | None) -> dict[str, str]:
    """Parse ``--only variant=X,dataset=Y,seed=Z`` into a filter dict."""
    if not text:
        return {}
    allowed = ("variant", "dataset", "seed")
    filters = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            raise SuiteError(
                f"--only: '{item}' is not key=value with key in {', '.join(allowed)}"
                + did_you_mean(key, allowed)
            )
        filters.setdefault(key, set()).add(value.strip())
    return filters


def select(cells: list[RunSpec], filters: dict) -> list[RunSpec]:
    """The cells that match every filter (a variant matches by display name or preset)."""

    def keep(cell: RunSpec) -> bool:
        checks = {
            "variant": {cell.variant_name, cell.variant.preset},
            "dataset": {cell.dataset_label, cell.dataset},
            "seed": {str(cell.seed)},
        }
        return all(checks[key] & values for key, values in filters.items())

    return [cell for cell in cells if keep(cell)]
