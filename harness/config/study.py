"""A suite's ``[study]`` table: the search space over variant axes, sampler, pruner and
protocol, and applying a trial's parameters to a variant entry."""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from harness.config.base import Strict, _check_name
from harness.config.variant import OptimizerOverride, VariantEntry


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
