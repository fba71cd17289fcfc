"""The real-data row: each dataset's held-out split scored with the suite's metrics, same
protocol, against the same reference; cached, and logged once per dataset and protocol as an
MLflow run of ``kind=real_data`` that reports and the run table show beside the cells."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from harness.config import RunSpec
from harness.report.stats import REAL_ROW
from harness.runner import cache_root, cell_data, environment_tags, write_json


def real_data_scores(cell: RunSpec, results: Path, device, data_cache: dict | None) -> tuple:
    """The real-data row of a cell's dataset: its evaluation metrics, same protocol, on the
    held-out split against the same reference; computed once and cached as JSON under a hash
    of the dataset, the evaluation protocol and the extractor. Returns (hash, scores, tags)."""
    import hashlib

    from harness.config import code_versions
    from harness.evaluate.evaluator import Evaluator

    data = cell_data(cell, data_cache, results)
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
    rows = {REAL_ROW: scores}
    if "source_test" in data.extra:  # a translation dataset: its baselines beside it
        path = path.with_name(f"{key}-baselines.json")
        try:
            baselines = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            baselines = baseline_scores(evaluator, data)
            write_json(path, baselines)
        rows |= baselines
    return key, rows, tags


def baseline_scores(evaluator, data) -> dict[str, dict]:
    """The trivial translators every translation table prints beside the models, scored
    like a model on the held-out sources (``harness.evaluate.translation.baselines``):
    ``baseline: identity`` (where source and target images have one shape), and, where the
    training sources have known targets, ``baseline: ridge`` and ``baseline: nearest
    neighbour``, fitted on those pairs. On an unpaired task those pairs are hidden from the
    models, so the two fitted baselines are paired oracles."""
    import torch

    from harness.evaluate.translation import baselines

    extra = data.extra
    source, labels = extra["source_test"], extra["source_test_y"]
    predictions = {}
    if tuple(source.shape[1:]) == tuple(data.info.shape):
        predictions["identity"] = source
    if extra.get("source_train_target") is not None:

        def unit(t):
            return ((t.double() + 1) / 2).numpy()

        task = SimpleNamespace(
            train_source=unit(extra["source_train"]),
            train_target=unit(extra["source_train_target"]),
            test_source=unit(source),
        )
        for name in ("ridge", "nearest_neighbour"):
            fitted = torch.as_tensor(baselines(task)[name], dtype=torch.float32)
            predictions[name] = fitted.mul(2).sub(1)
    targets = extra.get("source_test_target")
    rows = {}
    for name, predicted in predictions.items():
        scores = evaluator.score(
            predicted,
            labels,
            conditional=True,
            reference_size=evaluator.spec.num_samples,
            targets=targets,
            inputs=source,
        )
        scores.pop("eval_reference_cached", None)
        rows[f"baseline: {name.replace('_', ' ')}"] = scores
    return rows


def log_real_data(cells, results: Path, device, tracker, data_cache, stream) -> dict[str, dict]:
    """The reference rows of each dataset of the suite: the real-data row and, for
    translation datasets, the baselines; each logged in its experiment as a run of kind
    ``real_data`` (its ``variant`` tag the row's name), created only when the experiment has
    none for this protocol. Returns dataset label → {row name → scores}. A dataset whose
    rows cannot be computed is reported and skipped: its cells then fail on their own, one by
    one, as any cell does."""
    rows: dict[str, dict] = {}
    for cell in cells:
        if cell.dataset_label in rows or not cell.evaluation.metrics:
            continue
        try:
            key, found, tags = real_data_scores(cell, results, device, data_cache)
        except Exception as error:
            print(f"note: no real-data row for {cell.dataset_label}: {error}", file=stream)
            rows[cell.dataset_label] = {}
            continue
        rows[cell.dataset_label] = found
        for row, scores in found.items():
            row_key = key if row == REAL_ROW else f"{key}:{row}"
            if tracker.find_run({"kind": "real_data", "real_hash": row_key}):
                continue
            run_tags = {
                "kind": "real_data",
                "real_hash": row_key,
                "suite": cell.suite,
                "suite_version": cell.suite_version,
                "dataset": cell.dataset_label,
                "variant": row,
                **tags,
                **environment_tags(device),
            }
            # Not nested under the invocation: later invocations reuse it.
            name = "real data" if row == REAL_ROW else row
            run_id = tracker.start_run(f"{name}/{cell.dataset_label}", run_tags)
            tracker.log_params(run_id, {"dataset": cell.dataset, **_params_of(cell)})
            tracker.log_metrics(run_id, scores, step=0)
            tracker.end(run_id, "completed")
    return rows


def _params_of(cell: RunSpec) -> dict[str, str]:
    from harness.track.mlflow_tracker import flatten

    return flatten(
        {"dataset_params": cell.dataset_params, "evaluation": cell.to_dict()["evaluation"]}
    )
