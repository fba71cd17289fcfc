"""The real-data row: each dataset's held-out split scored with the suite's metrics, same
protocol, against the same reference; cached, and logged once per dataset and protocol as an
MLflow run of ``kind=real_data`` that reports and the run table show beside the cells."""

from __future__ import annotations

import json
from pathlib import Path

from harness.config import RunSpec
from harness.runner import cache_root, cell_data, environment_tags, write_json


def real_data_scores(cell: RunSpec, results: Path, device, data_cache: dict | None) -> tuple:
    """The real-data row of a cell's dataset: its evaluation metrics, same protocol, on the
    held-out split against the same reference; computed once and cached as JSON under a hash
    of the dataset, the evaluation protocol and the extractor. Returns (hash, scores, tags)."""
    import hashlib

    from harness.config import code_versions
    from harness.evaluate.evaluator import Evaluator

    data = cell_data(cell, data_cache)
    evaluator = Evaluator(cell.evaluation, data, device, cache_root(results), cell.dataset_params)
    tags = evaluator.describe()
    identity = {
        "dataset": cell.dataset,
        "params": cell.dataset_params,
        "code": code_versions(cell.dataset, cell.variant).get(f"dataset:{cell.dataset}", 1),
        "evaluation": cell.evaluation.model_dump(mode="json", exclude={"seed", "every_ticks"}),
        "extractor": {k: v for k, v in tags.items() if k != "eval.seed"},
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_root(results) / "real" / f"{key}.json"
    try:
        scores = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        scores = evaluator.score_real()
        write_json(path, scores)
    return key, scores, tags


def log_real_data(cells, results: Path, device, tracker, data_cache, stream) -> dict[str, dict]:
    """One real-data run per dataset of the suite in its experiment (kind ``real_data``),
    created only when the experiment has none for this protocol; dataset label → scores.
    A dataset whose real-data row cannot be computed is reported and skipped: its cells then
    fail on their own, one by one, as any cell does."""
    rows: dict[str, dict] = {}
    for cell in cells:
        if cell.dataset_label in rows or not cell.evaluation.metrics:
            continue
        try:
            key, scores, tags = real_data_scores(cell, results, device, data_cache)
        except Exception as error:
            print(f"note: no real-data row for {cell.dataset_label}: {error}", file=stream)
            rows[cell.dataset_label] = {}
            continue
        rows[cell.dataset_label] = scores
        if tracker.find_run({"kind": "real_data", "real_hash": key}):
            continue
        run_tags = {
            "kind": "real_data",
            "real_hash": key,
            "suite": cell.suite,
            "suite_version": cell.suite_version,
            "dataset": cell.dataset_label,
            "variant": "real data (held-out)",
            **tags,
            **environment_tags(device),
        }
        # Not nested under the invocation: later invocations reuse it.
        run_id = tracker.start_run(f"real data/{cell.dataset_label}", run_tags)
        tracker.log_params(run_id, {"dataset": cell.dataset, **_params_of(cell)})
        tracker.log_metrics(run_id, scores, step=0)
        tracker.end(run_id, "completed")
    return rows


def _params_of(cell: RunSpec) -> dict[str, str]:
    from harness.track.mlflow_tracker import flatten

    return flatten(
        {"dataset_params": cell.dataset_params, "evaluation": cell.to_dict()["evaluation"]}
    )
