"""Expanding a suite into cells: the resolved ``RunSpec`` of one variant on one dataset under
one seed, its identity and hash, and selecting cells with ``--only``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
)

from harness.config.base import SuiteError
from harness.config.suite import BudgetSpec, EvaluationSpec, SuiteSpec
from harness.config.variant import VariantSpec
from harness.registry import did_you_mean

# Bump when the meaning of a resolved spec changes for every cell, so old results are not
# reused. A change to one net, loss, penalty or dataset bumps that entry's own ``version``
# instead (see ``code_versions``), which changes the hash of exactly the cells that use it.
SPEC_PROTOCOL = 1


EVAL_ONLY = ("mode_samples", "is_splits", "truncation", "psi", "temperatures")


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
        if getattr(model, name) == type(model).model_fields[name].get_default(
            call_default_factory=True
        ):
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
        params = dataset.resolved_params()
        for variant in suite.variants:
            if not variant.runs_on(dataset):
                continue
            resolved = variant.resolve(kind)
            metrics = tuple(
                m
                for m in requested
                if metric_applies(
                    m, dataset.name, kind, suite.evaluation.extractor, resolved.recipe
                )
            )
            evaluation = suite.evaluation.model_copy(update={"metrics": metrics})
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
