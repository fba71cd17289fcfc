"""One study worker: asks Optuna for trials under a lock until the study has its size, runs
each trial's cells through the runner, retries trials whose worker died.

``python -m harness.study JOB`` starts one (the study command spawns them).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from harness.config import SuiteSpec, expand
from harness.study.base import Phase
from harness.study.space import (
    direction,
    make_pruner,
    make_sampler,
    objective_key,
    suggest,
    trial_seeds,
    trial_suite,
)
from harness.study.storage import open_storage, study_dir


def _retried_numbers(trials) -> set[int]:
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry

    retried: set[int] = set()
    for trial in trials:
        retried.update(Retry.retry_history(trial))
    return retried


def tally(trials) -> dict[str, int]:
    """Trials by what they mean for the study's size: a failed trial that was retried does not
    count (its retry does); everything else that exists does."""
    from optuna.trial import TrialState

    retried = _retried_numbers(trials)
    counts = {"complete": 0, "pruned": 0, "failed": 0, "retried": 0, "running": 0, "waiting": 0}
    for trial in trials:
        if trial.state == TrialState.FAIL and trial.number in retried:
            counts["retried"] += 1
        else:
            name = {
                TrialState.COMPLETE: "complete",
                TrialState.PRUNED: "pruned",
                TrialState.FAIL: "failed",
                TrialState.RUNNING: "running",
                TrialState.WAITING: "waiting",
            }[trial.state]
            counts[name] += 1
    counts["finished"] = counts["complete"] + counts["pruned"] + counts["failed"]
    counts["counted"] = counts["finished"] + counts["running"] + counts["waiting"]
    return counts


class _AskLock:
    """A file lock around "count the trials, then ask for one", shared by the workers of one
    machine (several machines on one database may each overshoot by one trial)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.handle, self.held = path, None, False

    def acquire(self) -> None:
        import fcntl

        self.handle = open(self.path, "a+")  # noqa: SIM115 - released in release()
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        self.held = True

    def release(self) -> None:
        import fcntl

        if self.held:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.held = False


# ---------------------------------------------------------------------------------------
# The objective: run_one over the trial's seeds.


class _Silent:
    """Progress for cells inside a trial: the trial prints one line when it ends."""

    def cell_started(self, *args) -> None:
        pass

    def step(self, iteration: int) -> None:
        pass

    def tick(self, record: dict) -> None:
        pass

    def cell_finished(self, result) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class Worker:
    suite: SuiteSpec
    phase: Phase
    results: Path
    storage_url: str
    parent_run_id: str
    device: str = "cpu"
    index: int = 0
    stream: TextIO = sys.stderr

    def __post_init__(self) -> None:
        from harness.runner import resolve_device
        from harness.track.mlflow_tracker import MlflowTracker

        self.tracker = MlflowTracker(self.results, self.suite.experiment)
        self.torch_device = resolve_device(self.device)
        self.key = objective_key(self.suite)
        self.data_cache: dict = {}

    def say(self, text: str) -> None:
        prefix = f"[{self.phase.label} w{self.index}]"
        print(f"{prefix} {text}", file=self.stream, flush=True)

    # -- one trial -----------------------------------------------------------------------

    def _trial_run(self, trial, number: int, params: dict) -> str:
        """The trial's MLflow run: the dead trial's run again when this is its retry."""
        import optuna

        variant, dataset = self.suite.study_target()
        if number != trial.number:
            original = trial.study.get_trials(deepcopy=False)[number]
            run_id = original.user_attrs.get("mlflow_run_id")
            if run_id and self.tracker.reopen(run_id):
                self.tracker.set_tags(run_id, {"status": "running", "optuna_trial": trial.number})
                trial.set_user_attr("mlflow_run_id", run_id)
                return run_id
        from harness.runner import environment_tags

        tags = {
            "kind": "study_trial",
            "study": self.phase.name,
            "phase": self.phase.label,
            "trial": number,
            "optuna_trial": trial.number,
            "suite": self.suite.name,
            "suite_version": self.suite.version,
            "variant": variant.display_name,
            "preset": variant.preset,
            "dataset": dataset.display_name,
            "seeds": ",".join(str(s) for s in trial_seeds(self.suite)),
            "objective": self.key,
            "status": "running",
            **environment_tags(self.torch_device),
        }
        run_id = self.tracker.start_run(f"trial {number:04d}", tags, self.parent_run_id)
        self.tracker.log_params(
            run_id,
            {
                **{f"trial.{path}": str(value) for path, value in params.items()},
                "study.objective": self.key,
                "study.direction": direction(self.suite),
                "study.sampler": self.suite.study.sampler.name,
                "study.pruner": self.suite.study.pruner.name,
                "optuna.version": optuna.__version__,
            },
        )
        trial.set_user_attr("mlflow_run_id", run_id)
        return run_id

    def objective(self, trial) -> float:
        import optuna
        from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry

        from harness.runner import run_one

        frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
        original = Retry.retried_trial_number(frozen)
        number = trial.number if original is None else original
        params = suggest(trial, self.phase.space)
        cells = expand(trial_suite(self.suite, params))
        run_id = self._trial_run(trial, number, params)
        trial.set_user_attr("trial_dir", str(self._trial_dir(number)))
        trial.set_user_attr("worker", self.index)
        ticks, values, images, started = self.suite.budget.ticks, [], 0, time.perf_counter()
        resumed = False
        outcome, reason, pruned_step = "complete", "", None
        for index, cell in enumerate(cells):

            def on_eval(record, offset=index * ticks):
                value = record.get(self.key)
                if value is None or not math.isfinite(value):
                    return None
                step = offset + int(record["tick"])
                trial.report(float(value), step)
                self.tracker.log_metrics(run_id, {"objective_intermediate": value}, step=step)
                if trial.should_prune():
                    nonlocal pruned_step
                    pruned_step = step
                    return f"pruned at evaluation step {step} ({self.key}={value:.4g})"
                return None

            result = run_one(
                cell,
                self.results,
                self.torch_device,
                self.tracker,
                run_id,
                _Silent(),
                self.data_cache,
                run_dir=self._trial_dir(number) / cell.spec_hash,
                extra_tags={"kind": "study_cell", "study": self.phase.name, "trial": number},
                on_eval=on_eval,
            )
            images += int(result.record.get("images_seen", 0))
            resumed = resumed or result.resumed
            if result.status == "pruned":
                outcome, reason = "pruned", result.reason
                break
            if result.status != "completed":
                outcome, reason = "failed", f"{cell.cell_name}: {result.status}: {result.reason}"
                break
            value = result.record.get(self.key)
            if value is None or not math.isfinite(value):
                outcome = "failed"
                reason = f"{cell.cell_name}: {self.key} was not computed (value {value})"
                break
            values.append(float(value))

        trial.set_user_attr("images_trained", images)
        trial.set_user_attr("resumed", resumed)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 3))
        trial.set_user_attr("values_per_seed", values)
        tags: dict[str, Any] = {"status": outcome, "status_reason": reason or "-"}
        summary = {"images_trained": images}
        if outcome == "complete":
            value = statistics.fmean(values)
            summary["objective"] = value
            if len(values) > 1:
                summary["objective_std"] = statistics.stdev(values)
        if pruned_step is not None:
            tags["pruned_step"] = pruned_step
        self.tracker.log_metrics(run_id, summary, step=images)
        self.tracker.set_tags(run_id, tags)
        self.tracker.end(run_id, "completed" if outcome != "failed" else "failed")
        shown = ", ".join(f"{k}={_short(v)}" for k, v in params.items())
        if resumed:
            shown += f"; resumed from trial {number}'s checkpoint"
        if outcome == "pruned":
            trial.set_user_attr("reason", reason)
            self.say(f"trial {number}: pruned ({shown}): {reason}")
            raise optuna.TrialPruned(reason)
        if outcome == "failed":
            trial.set_user_attr("reason", reason)
            self.say(f"trial {number}: failed ({shown}): {reason}")
            return float("nan")  # Optuna records the trial as failed; the study goes on
        self.say(f"trial {number}: {self.key}={value:.5g} ({shown})")
        return value

    def _trial_dir(self, number: int) -> Path:
        return study_dir(self.results, self.phase.name) / "trials" / f"{number:04d}"

    # -- the loop --------------------------------------------------------------------------

    def work(self, deadline: float | None) -> int:
        """Run trials until the study has its size (or the deadline passes); the number run."""
        import optuna

        storage = open_storage(self.storage_url, self.suite.study.heartbeat_seconds)
        study = optuna.load_study(
            study_name=self.phase.name,
            storage=storage,
            sampler=make_sampler(self.suite),
            pruner=make_pruner(self.suite),
        )
        lock = _AskLock(study_dir(self.results, self.phase.name) / "ask.lock")
        heartbeat = self.suite.study.heartbeat_seconds
        ran, running = 0, []  # running: the trial this loop's turn created
        while deadline is None or time.time() < deadline:
            lock.acquire()
            optuna.storages.fail_stale_trials(study)
            trials = study.get_trials(deepcopy=False)
            counts = tally(trials)
            # The trial created next, under this lock, is number len(trials).
            study.sampler = make_sampler(self.suite, len(trials))
            if (
                self.phase.trials is not None
                and counts["counted"] >= self.phase.trials
                and not counts["waiting"]
            ):
                lock.release()
                # Without a heartbeat (journal storage) a dead worker's trial never goes stale.
                if not counts["running"] or not isinstance(storage, optuna.storages.RDBStorage):
                    break
                time.sleep(heartbeat)  # a running trial may belong to a dead worker: wait
                continue

            running.clear()

            def locked_objective(trial):
                running.append(trial.number)
                lock.release()  # the trial exists now: the next count includes it
                try:
                    return self.objective(trial)
                except optuna.TrialPruned:
                    raise
                except Exception as error:  # a bug or a bad value: record it, go on
                    reason = f"{type(error).__name__}: {error}"
                    trial.set_user_attr("reason", reason)
                    self.say(f"trial {trial.number}: failed: {reason}")
                    raise

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    study.optimize(
                        locked_objective, n_trials=1, catch=(Exception,), gc_after_trial=False
                    )
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: Optuna has failed the trial
                if running:
                    _queue_retry(study, running[0])
                raise
            finally:
                lock.release()
            ran += 1
        return ran


def _queue_retry(study, number: int) -> None:
    """Queue the interrupted trial ``number`` again with its parameters, as the heartbeat
    does for a dead worker's: its retry resumes from its checkpoint and continues its MLflow
    run, and it counts for the study's size in its place (a stop is not the trial's
    failure, so the retry is not limited to ``MAX_RETRIES``)."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    from harness.stopping import shielded

    with shielded():
        trial = study.get_trials(deepcopy=False)[number]
        if trial.state == TrialState.FAIL:
            RetryHeartbeatStaleTrialCallback(max_retry=None)(study, trial)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    """One worker of a running study: ``python -m harness.study JOB`` where JOB is the
    JSON the study command writes (suite path, storage, results, device, parent run, phase,
    worker index, deadline)."""
    import json
    import signal

    from harness.config import load_suite
    from harness.stopping import Terminated, raise_on_sigterm
    from harness.study.protocol import narrow_phase, wide_phase

    # The study command forwards its stop (Ctrl-C or SIGTERM) to its workers as one SIGTERM;
    # they ignore the terminal's own Ctrl-C, which would otherwise arrive as well and break
    # into the clean-up the first signal started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_on_sigterm()  # a stop fails the running trial, queues it again, closes its run

    job = json.loads((argv if argv is not None else sys.argv[1:])[0])
    suite = load_suite(job["suite"])
    phase = wide_phase(suite)
    if job["phase"] == "narrow":
        phase = narrow_phase(suite, job["storage"])
    worker = Worker(
        suite,
        phase,
        Path(job["results"]),
        job["storage"],
        job["parent"],
        job["device"],
        job["index"],
        sys.stderr,
    )
    try:
        worker.work(job["deadline"])
    except Terminated:
        return 143
    return 0
