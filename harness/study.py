"""Hyperparameter studies: Optuna driving the runner's own ``run_one``.

A suite's ``[study]`` block names the variant and dataset to tune, the objective metric (its
direction is the metric's ``higher_is_better``), the search space over variant axes, the size
(trials and/or minutes), the seeds each trial averages over, the sampler and the pruner.

- Storage: ``sqlite:///<results>/optuna.db`` by default, any Optuna RDB URL (PostgreSQL for
  several machines) or ``journal:PATH`` (a journal file). RDB storages get a heartbeat: a trial
  whose worker died is failed after 3 heartbeats of silence and retried once per failure (up to
  twice) with the same parameters, resuming from the dead trial's checkpoint.
- Size: before a worker asks for a trial it counts, under a lock, the trials that count towards
  the study (finished, running, waiting; a failed trial that was retried counts through its
  retry), so N local workers end with exactly the requested number.
- Each trial is one MLflow child run of the study's parent run (one parent per study, across
  re-runs), with the cell runs of its seeds nested under it; they carry the benchmark runs' tags.
- Pruning is fed by the evaluation ticks: step = seed index × ticks + tick.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from harness.config import SearchParam, SuiteSpec, apply_params, expand

STALE_AFTER_HEARTBEATS = 3
MAX_RETRIES = 2


class StudyError(ValueError):
    """A study that cannot run as asked; ``str()`` is the one-line message."""


# ---------------------------------------------------------------------------------------
# Definition: which study, which phase, where.


@dataclass
class Phase:
    """One Optuna study: the wide search, or compare_gan's narrow search around it."""

    name: str  # the Optuna study name
    label: str  # "wide" or "narrow"
    space: dict[str, SearchParam]
    trials: int | None


def study_name(suite: SuiteSpec) -> str:
    assert suite.study is not None
    return suite.study.name or suite.name


def default_storage(results: Path) -> str:
    return f"sqlite:///{(Path(results).resolve() / 'optuna.db')}"


def study_dir(results: Path, name: str) -> Path:
    return Path(results) / "studies" / name


def _quiet_optuna() -> None:
    """Heartbeats and retries are marked experimental in Optuna; say it once in the docs, not
    in every trial's output."""
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def open_storage(url: str, heartbeat_seconds: int):
    """An Optuna storage for ``url``; RDB storages get the heartbeat and the retry callback."""

    _quiet_optuna()
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise StudyError(
            f"--storage {url}: not a storage URL; allowed: an SQLAlchemy URL "
            "(sqlite:///FILE, postgresql://USER@HOST/DB) or journal:FILE"
        )
    engine_kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    )
    try:
        return RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_seconds,
            grace_period=STALE_AFTER_HEARTBEATS * heartbeat_seconds,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES),
        )
    except ImportError as error:
        raise StudyError(
            f"--storage {url}: the database driver is not installed ({error}); for "
            'PostgreSQL: pip install -e ".[postgres]"'
        ) from None
    except Exception as error:  # bad URL, unreachable server, ...
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise StudyError(f"--storage {url}: {type(error).__name__}: {first}") from None


def optuna_study(suite: SuiteSpec, storage_url: str, name: str | None = None):
    """The Optuna study ``name`` (default: the wide search) of this suite, loaded."""
    import optuna

    storage = open_storage(storage_url, suite.study.heartbeat_seconds)
    return optuna.load_study(study_name=name or study_name(suite), storage=storage)


def definition(suite: SuiteSpec, phase: Phase) -> dict:
    """What makes two runs of the command the same study; stored with the Optuna study."""
    variant, dataset = suite.study_target()
    study = suite.study
    return {
        "objective": study.objective,
        "space": {k: v.model_dump(mode="json") for k, v in sorted(phase.space.items())},
        "variant": variant.model_dump(mode="json", exclude={"name"}),
        "dataset": {"name": dataset.name, "params": dataset.resolved_params()},
        "seeds": trial_seeds(suite),
        "budget": suite.budget.model_dump(mode="json", exclude={"max_minutes"}),
        "evaluation": suite.evaluation.model_dump(
            mode="json", exclude={"metrics", "extractor", "inception_weights"}
        ),
        "sampler": study.sampler.model_dump(mode="json"),
        "pruner": study.pruner.model_dump(mode="json"),
    }


def trial_seeds(suite: SuiteSpec) -> list[int]:
    return list(suite.study.seeds or suite.seeds)


def direction(suite: SuiteSpec) -> str:
    from harness.evaluate import METRICS

    higher = METRICS.meta(suite.study.objective)["higher_is_better"]
    return "maximize" if higher else "minimize"


def objective_key(suite: SuiteSpec) -> str:
    from harness.evaluate import REFERENCE_METRICS, metric_key

    _, dataset = suite.study_target()
    evaluation, reference = suite.evaluation, None
    if dataset.kind == "images" and suite.study.objective in REFERENCE_METRICS:
        from harness.data import load_dataset

        train_size = len(load_dataset(dataset.name, dataset.resolved_params()).train_x)
        reference = min(evaluation.num_samples, train_size)
    return metric_key(
        suite.study.objective,
        dataset.kind,
        evaluation.num_samples,
        evaluation.extractor,
        reference,
        evaluation.is_splits,
    )


def make_sampler(suite: SuiteSpec, worker_index: int = 0):
    """The suite's sampler; worker i of a parallel study draws from seed + i. (Called after
    ``open_storage``, which has silenced Optuna's experimental warnings.)"""
    import optuna

    spec = suite.study.sampler
    seed = spec.seed + worker_index
    if spec.name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if spec.name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.GPSampler(seed=seed)


def make_pruner(suite: SuiteSpec):
    import optuna

    spec = suite.study.pruner
    if spec.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_ticks
        )
    if spec.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if spec.name == "hyperband":
        max_resource = suite.budget.ticks * len(trial_seeds(suite))
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_resource)
    return optuna.pruners.NopPruner()


def suggest(trial, space: dict[str, SearchParam]) -> dict[str, Any]:
    params = {}
    for path, param in space.items():
        if param.type == "float":
            params[path] = trial.suggest_float(
                path, param.low, param.high, log=param.log, step=param.step
            )
        elif param.type == "int":
            params[path] = trial.suggest_int(
                path, int(param.low), int(param.high), log=param.log, step=int(param.step or 1)
            )
        else:
            params[path] = trial.suggest_categorical(path, param.choices)
    return params


def trial_suite(suite: SuiteSpec, params: dict[str, Any], seeds: list[int] | None = None):
    """The suite reduced to the tuned variant (with ``params`` applied) and dataset."""
    variant, dataset = suite.study_target()
    return suite.model_copy(
        update={
            "variants": [apply_params(variant, params)],
            "datasets": [dataset],
            "seeds": list(seeds or trial_seeds(suite)),
            "study": None,
        }
    )


# ---------------------------------------------------------------------------------------
# Counting towards the study's size.


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
            sampler=make_sampler(self.suite, self.index),
            pruner=make_pruner(self.suite),
        )
        lock = _AskLock(study_dir(self.results, self.phase.name) / "ask.lock")
        heartbeat = self.suite.study.heartbeat_seconds
        ran = 0
        while deadline is None or time.time() < deadline:
            lock.acquire()
            optuna.storages.fail_stale_trials(study)
            counts = tally(study.get_trials(deepcopy=False))
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

            def locked_objective(trial):
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
            finally:
                lock.release()
            ran += 1
        return ran


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------------------
# The command.


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


def _redact(url: str) -> str:
    """A storage URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


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
        command = [
            sys.executable,
            "-m",
            "harness",
            "study",
            suite_path,
            "--storage",
            storage_url,
            "--results-dir",
            str(results),
            "--device",
            device,
            "--worker-of",
            json.dumps(
                {
                    "parent": parent,
                    "phase": phase.label,
                    "index": index,
                    "deadline": deadline,
                    "name": phase.name,
                }
            ),
        ]
        processes.append(subprocess.Popen(command, env=env))
    try:
        codes = [process.wait() for process in processes]
    except BaseException:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
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


def export_best(suite, params, path: Path, name: str, number: int, value: float) -> None:
    """A runnable suite holding the best configuration (``ganbench validate``/``run`` take it)."""
    import tomli_w

    reduced = trial_suite(suite, params)
    variant = reduced.variants[0]
    data = {
        "name": f"{suite.name}-best",
        "version": suite.version,
        "description": f"Best trial {number} of study {name}: {objective_key(suite)} = {value!r}",
        "seeds": reduced.seeds,
        "datasets": [d.model_dump(mode="json", exclude_none=True) for d in reduced.datasets],
        "variants": [variant.model_dump(mode="json", exclude_none=True)],
        "budget": reduced.budget.model_dump(mode="json", exclude_none=True),
        "evaluation": reduced.evaluation.model_dump(mode="json", exclude_none=True),
    }
    header = (
        f"# Exported by `ganbench study` from study '{name}', trial {number}.\n"
        "# Its [[variants]] entry is the override block to paste into another suite.\n"
    )
    path.write_text(header + tomli_w.dumps(data))


def write_plots(study, out: Path) -> list[Path]:
    """Optimisation history, parameter importances and intermediate values (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as plots

    written = []
    for name, draw in (
        ("optimization_history", plots.plot_optimization_history),
        ("param_importances", plots.plot_param_importances),
        ("intermediate_values", plots.plot_intermediate_values),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw(study)
            axes.figure.savefig(out / f"{name}.png", dpi=90, bbox_inches="tight")
            plt.close(axes.figure)
            written.append(out / f"{name}.png")
        except (
            ValueError,
            RuntimeError,
            ZeroDivisionError,
            optuna.exceptions.OptunaError,
        ) as error:
            # e.g. importances need two complete trials with varying parameters
            (out / f"{name}.txt").write_text(f"not drawn: {error}\n")
    return written


# ---------------------------------------------------------------------------------------
# compare_gan's protocol: wide → narrow → top-k over more seeds.


def wide_phase(suite: SuiteSpec) -> Phase:
    return Phase(study_name(suite), "wide", dict(suite.study.space), suite.study.trials)


def ranked(study) -> list:
    """Complete trials, best first."""
    import optuna

    complete = [
        t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE
    ]
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(complete, key=lambda t: (t.value if not reverse else -t.value, t.number))


def narrow_space(space: dict[str, SearchParam], top: list) -> dict[str, SearchParam]:
    """The box spanned by the best trials: [min, max] of their values, and the categories
    they used."""
    narrowed = {}
    for path, param in space.items():
        values = [t.params[path] for t in top if path in t.params]
        if param.type == "categorical":
            narrowed[path] = param.model_copy(
                update={"choices": [c for c in param.choices if c in values]}
            )
        else:
            narrowed[path] = param.model_copy(update={"low": min(values), "high": max(values)})
    return narrowed


def narrow_phase(suite: SuiteSpec, storage_url: str) -> Phase:

    protocol = suite.study.protocol
    wide = optuna_study(suite, storage_url)
    top = ranked(wide)[: protocol.narrow_from]
    if not top:
        raise StudyError(f"study {wide.study_name}: no complete trial to narrow the search around")
    space = narrow_space(suite.study.space, top)
    return Phase(f"{study_name(suite)}-narrow", "narrow", space, protocol.narrow_trials)


def final_phase(suite, storage_url, results, device, stream, phase_name: str) -> dict:
    """Re-run the top-k configurations over the protocol's seeds through the benchmark runner;
    mean ± std of the objective per configuration."""

    from harness.runner import run_suite

    protocol = suite.study.protocol
    study = optuna_study(suite, storage_url, phase_name)
    top = ranked(study)[: protocol.top_k]
    if not top:
        raise StudyError(f"study {phase_name}: no complete trial to re-run")
    variant, dataset = suite.study_target()
    entries = [
        apply_params(variant, t.params).model_copy(
            update={"name": f"{study_name(suite)}-top{i + 1}"}
        )
        for i, t in enumerate(top)
    ]
    final_suite = suite.model_copy(
        update={
            "name": f"{study_name(suite)}-final",
            "variants": entries,
            "datasets": [dataset],
            "seeds": list(protocol.final_seeds),
            "study": None,
        }
    )
    print(
        f"protocol: re-running the top {len(top)} configurations of {phase_name} over seeds "
        f"{protocol.final_seeds}",
        file=stream,
        flush=True,
    )
    outcome = run_suite(final_suite, results, device, stream=stream)
    key = objective_key(suite)
    rows = []
    for i, trial in enumerate(top):
        name = entries[i].display_name
        values = [
            r.record.get(key)
            for r in outcome.results
            if r.cell.variant_name == name and r.status == "completed"
        ]
        values = [v for v in values if v is not None]
        rows.append(
            {
                "config": name,
                "trial": trial.number,
                "study_value": trial.value,
                "params": trial.params,
                "values": values,
                "n": len(values),
                "mean": statistics.fmean(values) if values else None,
                "std": statistics.stdev(values) if len(values) > 1 else None,
            }
        )
    out = study_dir(results, study_name(suite))
    summary = {
        "objective": key,
        "direction": direction(suite),
        "seeds": protocol.final_seeds,
        "rows": rows,
    }
    (out / "final.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    lines = [f"| config | trial | {key} mean ± std (n) | params |", "|---|---|---|---|"]
    for row in rows:
        spread = f" ± {row['std']:.4g}" if row["std"] is not None else ""
        mean = f"{row['mean']:.5g}{spread} ({row['n']})" if row["mean"] is not None else "—"
        params = ", ".join(f"{k}={_short(v)}" for k, v in row["params"].items())
        lines.append(f"| {row['config']} | {row['trial']} | {mean} | {params} |")
    (out / "final.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), file=stream, flush=True)
    return summary


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
