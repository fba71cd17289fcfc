"""run_one(RunSpec) and run_suite(SuiteSpec): skip, resume, statuses, tracking.

A cell's local run directory (``<results>/runs/<suite>/<spec hash>/``) holds its resolved
spec, its state (status, MLflow run id) and its latest checkpoint. Re-running a suite skips
cells that ended ``completed`` or ``diverged`` and resumes the others from their checkpoint,
continuing the same MLflow run so nothing is duplicated.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import claims
from harness.config import RunSpec, SuiteSpec, expand, select
from harness.track.store import NoSpace, out_of_space

FINAL_STATUSES = ("completed", "diverged")  # cells in these states are not run again
BUSY = "busy"  # run_one's answer when another live process holds the cell's claim


@dataclass
class CellResult:
    cell: RunSpec
    status: str
    reason: str = ""
    record: dict = field(default_factory=dict)
    run_id: str | None = None
    skipped: bool = False
    resumed: bool = False
    elsewhere: bool = False  # trained by another invocation while this one waited
    best: dict = field(default_factory=dict)


def results_root(explicit: str | os.PathLike | None = None) -> Path:
    """``--results-dir``, else ``GANBENCH_RESULTS``, else ``./results``."""
    return Path(explicit or os.environ.get("GANBENCH_RESULTS") or "results")


def cache_root(results: Path) -> Path:
    """Trained classifiers and reference features: ``GANBENCH_CACHE``, else ``<results>/cache``."""
    return Path(os.environ.get("GANBENCH_CACHE") or Path(results) / "cache")


def run_dir_of(cell: RunSpec, results: Path) -> Path:
    return Path(results) / "runs" / cell.suite / cell.spec_hash


def read_state(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_json(path: Path, data: dict) -> None:
    """Write atomically so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")  # one per writer
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write a small file whole or not at all (a full disk leaves no empty file)."""
    try:
        path.write_text(text)
    except OSError:
        path.unlink(missing_ok=True)
        raise


def resolve_device(name: str = "auto"):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


@functools.cache
def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.cache
def _package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("ganbench", "torch", "torchvision", "torch-fidelity", "mlflow", "optuna"):
        try:
            versions[f"version.{package}"] = version(package)
        except PackageNotFoundError:
            versions[f"version.{package}"] = "not installed"
    return versions


def environment_tags(device) -> dict[str, str]:
    from harness.train.seeding import cpu_threads

    return {
        "git_commit": git_commit(),
        "device": str(device),
        "torch_threads": str(cpu_threads()),
        "python": platform.python_version(),
        **_package_versions(),
    }


class _CellSink:
    """Receives the loop's reports: MLflow logging per tick and progress output; ``on_eval``
    (a study's pruning check) sees each evaluated tick's record and may stop the run."""

    def __init__(self, tracker, run_id: str, progress, on_eval=None) -> None:
        self.tracker, self.run_id, self.progress = tracker, run_id, progress
        self.on_eval = on_eval

    def on_step(self, iteration: int) -> None:
        self.progress.step(iteration)

    def on_tick(self, record: dict, samples_path: Path, evaluated: bool) -> None:
        self.tracker.log_metrics(self.run_id, record, step=record["images_seen"])
        if evaluated:
            self.tracker.log_artifact(self.run_id, samples_path, "samples")
        self.progress.tick(record)
        return self.on_eval(record) if evaluated and self.on_eval else None


def run_one(
    cell: RunSpec,
    results: Path,
    device,
    tracker,
    parent_run_id: str | None = None,
    progress=None,
    data_cache: dict | None = None,
    *,
    run_dir: Path | None = None,
    extra_tags: dict | None = None,
    on_eval=None,
) -> CellResult:
    """Train, evaluate and track one cell, or skip/resume it from what its run dir holds.

    A study passes its trial's own ``run_dir``, ``extra_tags`` for the MLflow run and
    ``on_eval``, which sees every evaluated tick and may stop the cell (status ``pruned``)."""
    from harness.progress import PlainProgress

    progress = progress or PlainProgress(total_cells=1).for_cell(1)
    run_dir = Path(run_dir) if run_dir else run_dir_of(cell, results)
    if (done := _finished(cell, run_dir)) is not None:
        return done
    claim = claims.try_claim(run_dir, parent_run_id)
    if claim is None:
        holder = claims.describe(claims.read_claim(run_dir))
        return CellResult(cell, BUSY, f"being trained by {holder}")
    with claim:
        _remove_stray_temporaries(run_dir)
        if (done := _finished(cell, run_dir)) is not None:  # finished while we looked
            done.elsewhere = True
            return done
        try:
            return _run_claimed(
                cell,
                results,
                device,
                tracker,
                parent_run_id,
                progress,
                data_cache,
                run_dir,
                read_state(run_dir),
                extra_tags,
                on_eval,
            )
        except Exception as error:
            if out_of_space(error) and not isinstance(error, NoSpace):
                raise NoSpace(f"no space left while recording {cell.cell_name}") from error
            raise


def _remove_stray_temporaries(run_dir: Path) -> None:
    """Half-written files (``<name>.tmp<pid>``) a killed writer left behind; only the claim's
    holder writes in the run directory, so none of them is still being written."""
    import re

    for path in run_dir.glob("*.tmp*"):
        if re.fullmatch(r".+\.tmp\d+", path.name) and path.is_file():
            path.unlink(missing_ok=True)


def _finished(cell: RunSpec, run_dir: Path) -> CellResult | None:
    """The recorded result of a cell that ended in a final state, else None."""
    state = read_state(run_dir)
    if state.get("status") not in FINAL_STATUSES:
        return None
    return CellResult(
        cell,
        state["status"],
        state.get("reason", ""),
        state.get("record", {}),
        state.get("run_id"),
        skipped=True,
        best=state.get("best", {}),
    )


def _run_claimed(
    cell,
    results,
    device,
    tracker,
    parent_run_id,
    progress,
    data_cache,
    run_dir,
    state,
    extra_tags,
    on_eval,
) -> CellResult:
    write_json(run_dir / "spec.json", cell.to_dict())
    run_id = state.get("run_id")
    resumed = bool(run_id) and tracker.reopen(run_id)
    if not resumed:
        tags = {
            "suite": cell.suite,
            "suite_version": cell.suite_version,
            "variant": cell.variant_name,
            "preset": cell.variant.preset,
            "dataset": cell.dataset_label,
            "dataset_name": cell.dataset,
            "seed": cell.seed,
            "spec_hash": cell.spec_hash,
            "status": "running",
            **environment_tags(device),
            **(extra_tags or {}),
        }
        run_id = tracker.start_run(cell.cell_name, tags, parent_run_id)

    # From here on the run is open: whatever stops the cell (Ctrl-C, SIGTERM, a full disk)
    # closes it as interrupted, even before training starts.
    try:
        if not resumed:
            tracker.log_params(run_id, _params(cell))
            tracker.log_artifact(run_id, run_dir / "spec.json")
        write_json(run_dir / "state.json", {"status": "running", "run_id": run_id})
        tags = {"status": "running", "device": str(device)}
        if resumed and parent_run_id:
            tags["resumed_in"] = parent_run_id  # the invocation that continued this cell
        tracker.set_tags(run_id, tags)
        result = _train_cell(
            cell, results, device, tracker, run_id, progress, data_cache, run_dir, on_eval
        )
    except BaseException:  # Ctrl-C, a full disk: close the MLflow run, keep it resumable
        with contextlib.suppress(Exception):  # the store may be what failed
            tracker.set_tags(run_id, {"status": "interrupted"})
            tracker.end(run_id, "interrupted")
        raise
    result.resumed = resumed
    tracker.set_tags(run_id, {"status": result.status, "status_reason": result.reason or "-"})
    checkpoint = run_dir / "checkpoint.pt"
    if checkpoint.exists() and result.status != "failed":
        tracker.log_artifact(run_id, checkpoint, "checkpoint")
    if result.best and result.status in ("completed", "time_limit", "pruned"):
        # Best-checkpoint scores, kept apart from the final ones under "best/".
        best = {f"best/{key}": value for key, value in result.best.items()}
        tracker.log_metrics(run_id, best, step=result.record.get("images_seen", 0))
        tracker.log_artifact(run_id, run_dir / "best.pt", "checkpoint")
    tracker.end(run_id, result.status)
    write_json(
        run_dir / "state.json",
        {
            "status": result.status,
            "reason": result.reason,
            "record": result.record,
            "best": result.best,
            "run_id": run_id,
        },
    )
    return result


def _params(cell: RunSpec) -> dict[str, str]:
    from harness.track.mlflow_tracker import flatten

    return flatten(cell.to_dict())


def cell_data(cell: RunSpec, data_cache: dict | None, results: Path | None = None):
    """The cell's dataset, loaded once per (name, parameters) within one invocation; generated
    data (the text oracle's samples) are kept under the results' cache when ``results`` is given."""
    from harness.data import load_dataset

    cache = data_cache if data_cache is not None else {}
    key = (cell.dataset, json.dumps(cell.dataset_params, sort_keys=True))
    if key not in cache:
        folder = None if results is None else cache_root(results)
        cache[key] = load_dataset(cell.dataset, cell.dataset_params, folder)
    return cache[key]


def _train_cell(
    cell, results, device, tracker, run_id, progress, data_cache, run_dir, on_eval
) -> CellResult:
    """Build everything, resume from the checkpoint if any, and train; failures are caught."""
    from harness.evaluate.evaluator import Evaluator
    from harness.train.loop import Trainer
    from harness.train.seeding import configure_determinism

    try:
        configure_determinism(device)
        data = cell_data(cell, data_cache, results)
        evaluator = Evaluator(
            cell.evaluation, data, device, cache_root(results), cell.dataset_params
        )
        tracker.set_tags(run_id, evaluator.describe())
        trainer = Trainer(cell, data, device, evaluator, run_dir)
        checkpoint = run_dir / "checkpoint.pt"
        if checkpoint.exists():
            trainer.resume(checkpoint)
            _log_pending(tracker, run_id, trainer.last_record)
        progress.cell_started(cell, trainer.total, trainer.iteration)
        minutes = cell.budget.max_minutes
        outcome = trainer.run(
            _CellSink(tracker, run_id, progress, on_eval), minutes * 60 if minutes else None
        )
        return CellResult(
            cell, outcome.status, outcome.reason, outcome.record, run_id, best=outcome.best
        )
    except Exception as error:  # one cell's failure never stops the suite...
        if out_of_space(error):  # ...but a full disk stops it: the cell stays resumable
            raise NoSpace(f"no space left while training {cell.cell_name}") from error
        reason = f"{type(error).__name__}: {error}"
        write_text(run_dir / "error.txt", traceback.format_exc())
        return CellResult(cell, "failed", reason, {}, run_id)


def _log_pending(tracker, run_id: str, record: dict) -> None:
    """Log the checkpoint's last tick if the process died between checkpoint and logging."""
    if not record:
        return
    last = tracker.last_step(run_id, "tick")
    if last is None or last < record["images_seen"]:
        tracker.log_metrics(run_id, record, step=record["images_seen"])


def _close_orphans(tracker, results: Path, run_dirs: list[Path]) -> None:
    """End the MLflow runs that killed invocations left RUNNING: their parent runs (found
    through ``<results>/invocations/``, one claimed folder per live invocation) and the cells
    they were training (state ``running``, claim free). They end KILLED, status
    ``interrupted``; a cell is reopened when it is resumed."""
    orphans = []
    folder = results / "invocations"
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.is_dir() and not claims.is_held(entry):
                orphans.append((entry.name, "its invocation was killed"))
                shutil.rmtree(entry, ignore_errors=True)
    for run_dir in dict.fromkeys(run_dirs):
        state = read_state(run_dir)
        if state.get("status") == "running" and state.get("run_id"):
            if not claims.is_held(run_dir):
                orphans.append((state["run_id"], "the process training it was killed"))
    for run_id, reason in orphans:
        tracker.close_if_running(run_id, reason)


def _wait_for_claims(jobs: list, results: Path, poll: float = 2.0):
    """Wait until no live process holds these cells' claims; yield ``(job, result)`` with the
    other invocation's result, or ``(job, None)`` for a cell to resume here (its holder died
    or stopped before a final state)."""
    import time

    waiting = list(jobs)
    while waiting:
        time.sleep(poll)
        for job in list(waiting):
            run_dir = job.run_dir or run_dir_of(job.cell, results)
            if claims.is_held(run_dir):
                continue
            waiting.remove(job)
            done = _finished(job.cell, run_dir)
            if done is not None:
                done.elsewhere = True
            yield job, done


@dataclass
class SuiteResult:
    suite: SuiteSpec
    results: list[CellResult]
    parent_run_id: str | None = None
    # dataset label → {reference row (real data, translation baselines) → scores}
    real: dict[str, dict] = field(default_factory=dict)
    unsent: int = 0  # tracking records left in the journal (the server was unreachable)

    @property
    def ok(self) -> bool:
        return all(r.status == "completed" for r in self.results)


def _open_invocation(
    tracker, suite, cells, jobs, pending, results: Path, workers, torch_device, parent_tags
):
    """The invocation's parent run (none when nothing is pending: an invocation that trains
    nothing adds no run) and its claim; runs left RUNNING by dead invocations are closed."""
    parent = None
    if pending:
        parent = tracker.start_run(
            f"{suite.name} (invocation)",
            {
                "suite": suite.name,
                "suite_version": suite.version,
                "cells": len(cells),
                "kind": "suite_invocation",
                "workers": min(workers, len(pending)),
                **environment_tags(torch_device),
                **(parent_tags or {}),
            },
        )
    invocation = claims.try_claim(results / "invocations" / parent) if parent else None
    _close_orphans(
        tracker,
        results,
        [job.run_dir or run_dir_of(job.cell, results) for job in jobs]
        + sorted((results / "runs" / suite.name).glob("*/")),
    )
    return parent, invocation


def run_suite(
    suite: SuiteSpec,
    results: Path,
    device: str = "auto",
    only: dict | None = None,
    stream=None,
    *,
    fresh_dir: Path | None = None,
    experiment: str | None = None,
    parent_tags: dict | None = None,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
) -> SuiteResult:
    """Run every selected cell of a suite under one MLflow parent run.

    ``workers`` > 1 runs the cells in that many local processes (same numbers, bit for bit).
    ``fresh_dir`` gives every cell a new run directory under it (a nightly run retrains
    everything instead of skipping finished cells); ``experiment`` and ``parent_tags`` file
    the invocation elsewhere and tag it."""
    from harness.executors import Context, InProcess, Job, LocalProcesses, RayExecutor
    from harness.progress import make_progress
    from harness.track.mlflow_tracker import MlflowTracker

    stream = stream or sys.stderr
    cells = select(expand(suite), only or {})
    torch_device = resolve_device(device)
    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    experiment = experiment or suite.experiment
    jobs = [
        Job(position, cell, Path(fresh_dir) / cell.spec_hash if fresh_dir else None)
        for position, cell in enumerate(cells, start=1)
    ]
    # Finished cells are skipped here; an invocation that trains nothing adds no run.
    pending = [
        job
        for job in jobs
        if read_state(job.run_dir or run_dir_of(job.cell, results)).get("status")
        not in FINAL_STATUSES
    ]
    waiting = {job.position for job in pending}
    # Local workers are spawned first, so that their start-up (imports of torch,
    # torch-fidelity and MLflow) overlaps the store's and the real-data row's in this process.
    local = None
    if executor != "ray" and workers > 1 and len(pending) > 1:
        local = LocalProcesses(None, workers)
        local.start(len(pending))
    try:
        tracker = MlflowTracker(results, experiment)
        parent, invocation = _open_invocation(
            tracker, suite, cells, jobs, pending, results, workers, torch_device, parent_tags
        )
    except BaseException:
        if local is not None:
            local.close()
        raise
    context = Context(results, str(torch_device), experiment, parent)
    if executor == "ray":
        parallel, executor = True, RayExecutor(context, workers, address)
    elif local is not None:
        parallel, executor = True, local
        executor.context = context
    else:
        parallel, executor = False, InProcess(context, tracker, torch_device)
    progress = make_progress(len(cells), stream, parallel=parallel)
    outcomes: dict[int, CellResult] = {}
    from harness.real_data import log_real_data

    data_cache = getattr(executor, "data_cache", {})
    try:
        real = log_real_data(cells, results, torch_device, tracker, data_cache, stream)
        for job in jobs:
            if job.position not in waiting:  # finished: run_one reads its state and skips
                outcomes[job.position] = run_one(
                    job.cell, results, torch_device, tracker, run_dir=job.run_dir
                )
                progress.cell_finished(job.position, outcomes[job.position])
        queue = pending
        while queue:
            busy = []
            for position, result in executor.run(queue, progress):
                result.elsewhere = result.elsewhere or result.skipped  # it was pending here
                if result.status == BUSY:
                    progress.note(position, f"{result.cell.cell_name}: {result.reason}; waiting")
                    busy.append(position)
                    continue
                progress.cell_finished(position, result)
                outcomes[position] = result
            queue = []
            for job, result in _wait_for_claims([j for j in jobs if j.position in busy], results):
                if result is None:  # its holder died or stopped: resume it here
                    queue.append(job)
                else:
                    progress.cell_finished(job.position, result)
                    outcomes[job.position] = result
    except BaseException:
        progress.close()
        with contextlib.suppress(Exception):  # a full disk: the next invocation closes it
            if parent is not None:
                tracker.set_tags(parent, {"status": "interrupted"})
                tracker.end(parent, "interrupted")
        raise
    else:
        progress.close()
        if parent is not None:
            counts: dict[str, Any] = {}
            for r in outcomes.values():
                counts[f"cells.{r.status}"] = counts.get(f"cells.{r.status}", 0) + 1
            skipped = sum(r.skipped for r in outcomes.values())
            tracker.set_tags(parent, {**counts, "cells.skipped": skipped})
            ok = len(outcomes) == len(cells) and all(
                r.status == "completed" for r in outcomes.values()
            )
            tracker.end(parent, "completed" if ok else "failed")
    finally:
        executor.close()
        if invocation is not None:
            invocation.release()
            shutil.rmtree(invocation.run_dir, ignore_errors=True)
    unsent = tracker.send_all(orphans=parallel)  # waits out an outage of the server
    return SuiteResult(suite, [outcomes[p] for p in sorted(outcomes)], parent, real, unsent)
