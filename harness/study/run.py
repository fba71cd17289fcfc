"""The study command: a phase's Optuna study and MLflow parent run, its worker processes,
its summary; the wide phase, then compare_gan's protocol."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from harness.config import SuiteSpec
from harness.study.base import Phase, StudyError
from harness.study.outputs import export_best, write_plots
from harness.study.protocol import final_phase, narrow_phase, wide_phase
from harness.study.space import definition, direction, objective_key
from harness.study.storage import _redact, open_storage, optuna_study, study_dir
from harness.study.worker import Worker, tally


@dataclass
class StudyResult:
    name: str
    counts: dict
    best: dict | None
    parent_run_id: str
    out_dir: Path
    complete: bool = True  # reached its requested number of trials


def prepare(suite: SuiteSpec, phase: Phase, storage_url: str, results: Path) -> str:
    """Create (or load and check) the Optuna study and its MLflow parent run; the run id."""
    import optuna

    from harness.runner import environment_tags, resolve_device
    from harness.track.mlflow_tracker import MlflowTracker

    storage = open_storage(storage_url, suite.study.heartbeat_seconds)
    wanted = json.dumps(definition(suite, phase), sort_keys=True)
    study = optuna.create_study(
        study_name=phase.name,
        storage=storage,
        direction=direction(suite),
        load_if_exists=True,
    )
    stored = study.user_attrs.get("ganbench.definition")
    if stored is None:
        study.set_user_attr("ganbench.definition", wanted)
        study.set_user_attr("ganbench.suite", suite.name)
    elif stored != wanted:
        raise StudyError(
            f"study '{phase.name}' in {storage_url} was created from a different [study] "
            "definition (space, objective, variant, budget or sampler changed); give "
            "study.name a new value to start a new study"
        )
    tracker = MlflowTracker(results, suite.experiment)
    run_id = study.user_attrs.get("mlflow_parent_run_id")
    if not (run_id and tracker.reopen(run_id)):
        variant, dataset = suite.study_target()
        run_id = tracker.start_run(
            f"study {phase.name}",
            {
                "kind": "study",
                "study": phase.name,
                "phase": phase.label,
                "suite": suite.name,
                "suite_version": suite.version,
                "variant": variant.display_name,
                "dataset": dataset.display_name,
                "objective": objective_key(suite),
                "direction": direction(suite),
                "optuna_storage": _redact(storage_url),
                **environment_tags(resolve_device("cpu")),
            },
        )
        tracker.log_params(run_id, {"study.definition": wanted[:6000]})
        study.set_user_attr("mlflow_parent_run_id", run_id)
    return run_id


def run_phase(
    suite: SuiteSpec,
    suite_path: str,
    phase: Phase,
    results: Path,
    storage_url: str,
    workers: int,
    device: str,
    stream: TextIO,
) -> StudyResult:
    parent = prepare(suite, phase, storage_url, results)
    minutes = suite.study.max_minutes
    deadline = time.time() + minutes * 60 if minutes else None
    target = f"{phase.trials} trials" if phase.trials else f"{minutes:g} minutes"
    print(
        f"study {phase.name} ({phase.label}): {target}, {workers} worker(s), objective "
        f"{objective_key(suite)} ({direction(suite)}), storage {_redact(storage_url)}",
        file=stream,
        flush=True,
    )
    if workers == 1:
        Worker(suite, phase, results, storage_url, parent, device, 0, stream).work(deadline)
    else:
        failed = _spawn_workers(
            suite_path, phase, results, storage_url, parent, workers, device, deadline
        )
        for index, code in failed.items():
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            print(
                f"warning: worker {index} ended early ({how}); a trial it left running is "
                "failed by the heartbeat and retried by the other workers or the next run",
                file=stream,
                flush=True,
            )
    result = finish(suite, phase, results, storage_url, parent, stream)
    if deadline is not None and time.time() >= deadline and not result.complete:
        print(f"study {phase.name}: stopped at its time limit of {minutes:g} minutes", file=stream)
        result.complete = True  # the size asked for was the time
    return result


def _spawn_workers(suite_path, phase, results, storage_url, parent, workers, device, deadline):
    """N worker processes on one storage, each pinned to one torch thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    processes = []
    for index in range(workers):
        job = {
            "suite": str(suite_path),
            "storage": storage_url,
            "results": str(results),
            "device": device,
            "parent": parent,
            "phase": phase.label,
            "index": index,
            "deadline": deadline,
            "name": phase.name,
        }
        command = [sys.executable, "-m", "harness.study", json.dumps(job)]
        processes.append(subprocess.Popen(command, env=env))
    try:
        codes = [process.wait() for process in processes]
    except BaseException:
        # SIGTERM, not SIGINT: a command started in the background (nohup, a script's `&`,
        # some schedulers) runs with SIGINT ignored, inherited by its workers, which then
        # never stopped while this process waited on them.
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait()
        raise
    return {index: code for index, code in enumerate(codes) if code != 0}


def finish(suite, phase, results, storage_url, parent, stream) -> StudyResult:
    """Summarise the study: artifacts (best parameters and suite, trials table, plots) on the
    parent run and under ``<results>/studies/<name>/``."""
    import optuna

    from harness.track.mlflow_tracker import MlflowTracker

    study = optuna_study(suite, storage_url, phase.name)
    trials = study.get_trials(deepcopy=False)
    counts = tally(trials)
    out = study_dir(results, phase.name)
    out.mkdir(parents=True, exist_ok=True)
    tracker = MlflowTracker(results, suite.experiment)
    best = None
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        chosen = study.best_trial
        best = {
            "trial": chosen.number,
            "value": chosen.value,
            "params": chosen.params,
            "objective": objective_key(suite),
            "direction": direction(suite),
            "mlflow_run_id": chosen.user_attrs.get("mlflow_run_id"),
        }
        (out / "best.json").write_text(json.dumps(best, indent=2, sort_keys=True))
        export_best(
            suite, chosen.params, out / "best.toml", phase.name, chosen.number, chosen.value
        )
    study.trials_dataframe().to_csv(out / "trials.csv", index=False)
    plots = write_plots(study, out)
    for path in [out / "trials.csv", *plots] + (
        [out / "best.json", out / "best.toml"] if best else []
    ):
        tracker.log_artifact(parent, path, "study")
    tags = {f"trials.{k}": v for k, v in counts.items()}
    done = phase.trials is None or counts["finished"] >= phase.trials
    tags["status"] = "completed" if done else "incomplete"
    if best:
        tags.update({"best_trial": best["trial"], "best_value": best["value"]})
        tracker.log_metrics(parent, {"best_value": best["value"]}, step=counts["finished"])
    tracker.set_tags(parent, tags)
    tracker.end(parent, "completed" if done else "interrupted")
    line = (
        f"study {phase.name}: {counts['finished']} finished ({counts['complete']} complete, "
        f"{counts['pruned']} pruned, {counts['failed']} failed"
        + (f", {counts['retried']} retried" if counts["retried"] else "")
        + ")"
    )
    if best:
        line += f"; best trial {best['trial']}: {best['objective']}={best['value']:.5g}"
        line += f"; best configuration: {out / 'best.toml'}"
    print(line, file=stream, flush=True)
    return StudyResult(phase.name, counts, best, parent, out, done)


def run_study(
    suite: SuiteSpec,
    suite_path: str,
    results: Path,
    storage_url: str,
    workers: int,
    device: str,
    stream: TextIO,
) -> list[StudyResult]:
    """The wide search, then (with a [study.protocol]) the narrow search and the top-k re-run."""
    Path(results).mkdir(parents=True, exist_ok=True)
    outcomes = [
        run_phase(
            suite, suite_path, wide_phase(suite), results, storage_url, workers, device, stream
        )
    ]
    protocol = suite.study.protocol
    if protocol is None:
        return outcomes
    last = outcomes[0].name
    if protocol.narrow_trials:
        phase = narrow_phase(suite, storage_url)
        outcomes.append(
            run_phase(suite, suite_path, phase, results, storage_url, workers, device, stream)
        )
        last = phase.name
    final_phase(suite, storage_url, results, device, stream, last)
    return outcomes
