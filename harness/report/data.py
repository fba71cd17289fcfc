"""MLflow runs → pandas, paged through the search API, with types restored deliberately.

MLflow returns params and tags as strings (and pandas 3 keeps them as its string dtype), so
seeds become integers, metric values floats and times datetimes here, once, by name.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

PAGE = 1000
# Runs that are not leaderboard cells: invocations, studies, trials and the cells of trials
# (a study is shown by its best-so-far figure, not as one variant averaged over its trials).
NOT_CELLS = ("suite_invocation", "study", "study_trial", "study_cell", "nightly")
TAG_COLUMNS = (
    "suite",
    "suite_version",
    "variant",
    "preset",
    "dataset",
    "dataset_name",
    "seed",
    "spec_hash",
    "status",
    "status_reason",
    "git_commit",
    "device",
    "torch_threads",
    "python",
    "kind",
    "study",
    "trial",
    "resumed_in",
    "eval.extractor",
    "eval.extractor_weights_hash",
    "eval.num_samples",
    "eval.reference_split",
    "eval.classifier_accuracy",
    "eval.inception_weights",
    "eval.selection",
)
PARAM_COLUMNS = {"variant.recipe": "recipe", "dataset_kind": "dataset_kind"}


@dataclass
class Source:
    """Where a report's runs come from."""

    tracking_uri: str
    experiment: str | None = None  # an experiment name
    parent_run_id: str | None = None  # one invocation's parent run
    suite: str | None = None  # keep runs tagged with this suite


def client_for(uri: str):
    import logging

    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def search_all(client, experiment_ids: list[str], filter_string: str = "") -> list:
    """Every matching run, page by page."""
    runs, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=PAGE, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def final_metrics(run) -> tuple[dict[str, float], set[str]]:
    """The run's metrics as they stood at its last step, and the keys undefined there.

    A key whose latest value was logged at an earlier step than the run's last
    (``images_seen``) step was undefined at the end: it is reported as undefined, never with
    the stale value MLflow keeps as "latest". So is a requested metric (``eval.metrics``)
    on 2-D data (logged under its bare name) that the run never logged at all."""
    logged = getattr(run.data, "_metric_objs", None)  # Metric entities carry their step
    if not logged:
        return dict(run.data.metrics), set()
    latest: dict[str, tuple[int, float]] = {}
    for metric in logged:
        if metric.key not in latest or metric.step >= latest[metric.key][0]:
            latest[metric.key] = (metric.step, metric.value)
    last_step = latest.get("images_seen", (None,))[0]
    if last_step is None:
        return {key: value for key, (_, value) in latest.items()}, set()
    values = {key: value for key, (step, value) in latest.items() if step >= last_step}
    undefined = set(latest) - set(values)
    requested = (run.data.tags.get("eval.metrics") or "").split(",")
    if (
        run.data.tags.get("status") == "completed"
        and run.data.params.get("dataset_kind") == "points"
    ):
        undefined |= {name for name in requested if name and name not in latest}
    return values, undefined


def runs_frame(runs) -> pd.DataFrame:
    """One row per run: id, parent, times, the known tags, and every metric's value at the
    run's last step as ``metric:<key>`` (floats; NaN where undefined at that step)."""
    rows = []
    for run in runs:
        tags = run.data.tags
        row = {
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "run_name": run.info.run_name,
            "parent_run_id": tags.get("mlflow.parentRunId"),
            "mlflow_status": run.info.status,
            "start_time": run.info.start_time,
            "end_time": run.info.end_time,
        }
        for tag in TAG_COLUMNS:
            row[tag] = tags.get(tag)
        for param, column in PARAM_COLUMNS.items():
            row[column] = run.data.params.get(param)
        values, undefined = final_metrics(run)
        for key, value in values.items():
            row[f"metric:{key}"] = value
        row["undefined"] = ",".join(sorted(undefined))
        rows.append(row)
    frame = pd.DataFrame(rows)
    return restore_types(frame)


def restore_types(frame: pd.DataFrame) -> pd.DataFrame:
    """Strings from MLflow → the types the report computes with."""
    if frame.empty:
        return frame
    for column in ("seed", "trial", "eval.num_samples", "torch_threads"):
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    for column in frame.columns:
        if column.startswith("metric:"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def load(source: Source) -> pd.DataFrame:
    """The cell runs of a source (not invocations, studies or trials)."""
    client = client_for(source.tracking_uri)
    if source.parent_run_id:
        parent = client.get_run(source.parent_run_id)
        experiment_ids = [parent.info.experiment_id]
        pid = source.parent_run_id
        runs = search_all(client, experiment_ids, f"tags.`mlflow.parentRunId` = '{pid}'")
        runs += search_all(client, experiment_ids, f"tags.resumed_in = '{pid}'")
    else:
        found = client.get_experiment_by_name(source.experiment)
        if found is None:
            raise LookupError(
                f"no MLflow experiment '{source.experiment}' in {source.tracking_uri}"
            )
        experiment_ids = [found.experiment_id]
        runs = search_all(client, experiment_ids)
    frame = runs_frame({r.info.run_id: r for r in runs}.values())
    if frame.empty:
        return frame
    frame = frame[frame["spec_hash"].notna() & ~frame["kind"].isin(NOT_CELLS)]
    if source.suite:
        frame = frame[frame["suite"] == source.suite]
    return frame.reset_index(drop=True)


def load_real(source: Source) -> pd.DataFrame:
    """The real-data runs (``kind=real_data``) of the source's experiment, for its suite."""
    client = client_for(source.tracking_uri)
    if source.parent_run_id:
        experiment_ids = [client.get_run(source.parent_run_id).info.experiment_id]
    else:
        found = client.get_experiment_by_name(source.experiment)
        if found is None:
            return pd.DataFrame()
        experiment_ids = [found.experiment_id]
    frame = runs_frame(search_all(client, experiment_ids, "tags.kind = 'real_data'"))
    if not frame.empty and source.suite:
        frame = frame[frame["suite"] == source.suite]
    return frame.reset_index(drop=True)


def latest_per_cell(frame: pd.DataFrame) -> pd.DataFrame:
    """The most recent run of each spec hash (a cell re-run from scratch replaces the old)."""
    if frame.empty:
        return frame
    ordered = frame.sort_values(["start_time", "run_id"])
    return ordered.drop_duplicates("spec_hash", keep="last").reset_index(drop=True)
