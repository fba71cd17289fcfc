"""The suite file: budget, evaluation, tracking, published numbers, nightly settings, the
cross-key checks, and loading a TOML file with one-line errors."""

from __future__ import annotations

import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.config.base import Names, Numbers, Strict, SuiteError, _check_name
from harness.config.dataset import DatasetEntry
from harness.config.study import StudySpec, _field_type, apply_params, searchable_paths
from harness.config.variant import VariantEntry
from harness.registry import did_you_mean


class BudgetSpec(Strict):
    kimg: float | None = Field(
        None, gt=0, le=1e9, description="thousands of real images shown to D (at most 1e9)"
    )
    g_steps: int | None = Field(None, gt=0, le=10**12, description="generator steps")
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

    psi: Numbers = Field(
        (),
        description="also score StyleGAN's samples with w truncated towards the tracked mean by "
        "each ψ (the metric names carry _psi<ψ>); ψ = 1, no truncation, always",
    )

    temperatures: Numbers = Field(
        (),
        description="also score sequence models with samples drawn, and likelihoods taken, at "
        "each softmax temperature (the metric names carry _temp<T>): the quality-diversity "
        "frontier of Caccia et al. 2020; temperature 1 always",
    )

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(t <= 0 or t == 1 for t in value) or len(set(value)) != len(value):
            raise ValueError("temperatures must be distinct, above 0 and not 1 (always scored)")
        return value

    @field_validator("psi")
    @classmethod
    def _psi(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 <= p < 1 for p in value) or len(set(value)) != len(value):
            raise ValueError("psi values must be distinct and within [0, 1)")
        return value

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
    seeds: list[Annotated[int, Field(ge=0, le=2**32 - 1)]] = Field(min_length=1)
    budget: BudgetSpec
    evaluation: EvaluationSpec = EvaluationSpec()
    tracking: TrackingSpec = TrackingSpec()
    study: StudySpec | None = None
    nightly: NightlySpec = NightlySpec()
    published: list[PublishedEntry] = []
    published_missing: str | None = Field(
        None,
        min_length=1,
        description="a paper suite whose published numbers are not stored yet: why (the "
        "report says so where they would be)",
    )

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
        from harness.evaluate import metric_applies, needs_text, needs_text_of

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
        from harness.data import DATASETS
        from harness.recipes import RECIPES

        if self.evaluation.psi:
            styled = []
            for dataset in self.datasets:
                for variant in self.variants:
                    try:
                        recipe = variant.resolve(dataset.kind).recipe
                    except (ValueError, ValidationError):
                        continue
                    styled.append("styles" in RECIPES.meta(recipe).get("offers", ()))
            if not any(styled):
                raise ValueError(
                    "evaluation.psi: truncation in W applies to style-based generators only, "
                    "and this suite has none; allowed: psi = [] or a stylegan variant"
                )
        if self.evaluation.temperatures and not any(d.kind == "sequences" for d in self.datasets):
            raise ValueError(
                "evaluation.temperatures: a softmax temperature applies to sequence models, "
                "and this suite has no sequence dataset; allowed: temperatures = [] or a "
                "sequence dataset (oracle_lstm, coco_captions)"
            )
        for dataset in self.datasets:
            offered = set(DATASETS.meta(dataset.name)["offers"])
            for index, variant in enumerate(self.variants):
                if not variant.runs_on(dataset):
                    continue
                try:
                    recipe = variant.resolve(dataset.kind).recipe
                except (ValueError, ValidationError):
                    continue  # reported below, with the variant's own message
                needs = set(RECIPES.meta(recipe).get("needs", ()))
                if not needs <= offered:
                    fits = [
                        d.display_name
                        for d in self.datasets
                        if needs <= set(DATASETS.meta(d.name)["offers"])
                    ]
                    raise ValueError(
                        f"variants[{index}] ('{variant.display_name}'): recipe '{recipe}' "
                        f"needs {needs_text_of(needs)}, which dataset "
                        f"'{dataset.display_name}' ({dataset.name}) does not offer; allowed: "
                        + (
                            f"datasets = {fits!r}"
                            if fits
                            else "a dataset that offers it, e.g. "
                            + ", ".join(
                                n
                                for n in DATASETS.names()
                                if needs <= set(DATASETS.meta(n)["offers"])
                            )
                        )
                    )
        from harness.variants.nets.layout import check_layout, check_translation_layout

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
                    check_translation_layout(spec, dataset.resolution)
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
    except IsADirectoryError:
        raise SuiteError(f"{path}: is a folder, not a suite file") from None
    except UnicodeDecodeError as error:
        raise SuiteError(
            f"{path}: not a UTF-8 text file (byte {error.start}); a suite is TOML text"
        ) from None
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
