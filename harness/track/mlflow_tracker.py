"""The MLflow side of a suite run: one experiment per suite, a parent run per invocation,
a child run per cell. Everything goes through ``MlflowClient`` with explicit run ids (no
global active-run state), and metrics are sent in one ``log_batch`` per tick.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

from harness.stopping import shielded

# MLflow statuses for our outcomes; the outcome itself is always in the "status" tag.
MLFLOW_STATUS = {
    "completed": "FINISHED",
    "time_limit": "FINISHED",
    "diverged": "FAILED",
    "failed": "FAILED",
    "interrupted": "KILLED",
}
TAG_LIMIT = 5000


def tracking_uri(results_dir: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else a SQLite store inside the results root."""
    return (
        os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{Path(results_dir).resolve() / 'mlflow.db'}"
    )


def flatten(data: dict, prefix: str = "") -> dict[str, str]:
    """Nested dicts → dotted keys with string values (MLflow params)."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = str(value)
    return flat


class MlflowTracker:
    def __init__(self, results_dir: Path, experiment: str) -> None:
        import logging

        from mlflow import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)
        # It logs a database error with its traceback and then raises it; ganbench reports
        # what it raises (one line for a full disk), so the log would only repeat it.
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
        # MLflow prints "View run ... at: URL" to stdout when a run on a tracking server ends;
        # ganbench's output is its own (progress, summary table), so say no unless told to.
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self.uri = tracking_uri(results_dir)
        local = not os.environ.get("MLFLOW_TRACKING_URI")
        if local:
            from harness.runner import cache_root
            from harness.track import store

            store.prepare(results_dir, cache_root(Path(results_dir)))
        self.client = MlflowClient(tracking_uri=self.uri)
        self.journal = None
        remote = self.uri.startswith(("http://", "https://"))
        # A SIGTERM raised inside an SQL store's call can leave its transaction open (the
        # write lock held: the runs could then not be closed); it is held until the call
        # ends. A request to a server is safe to interrupt, and may wait for minutes.
        self._guard = contextlib.nullcontext if remote else shielded
        if not local and remote:
            from harness.track.journal import Journal, fail_fast

            fail_fast()
            self.journal = Journal(Path(results_dir), self._apply)
        location = (Path(results_dir).resolve() / "artifacts").as_uri() if local else None
        self.experiment_id = self._read(lambda: self._experiment(experiment, location))
        if self.journal is not None:
            self.journal.replay_orphans()  # what killed or cut-off invocations could not send

    def _experiment(self, name: str, location: str | None) -> str:
        """The experiment's id, created if missing; two processes creating it at once both
        get the one that exists."""
        from mlflow.exceptions import MlflowException

        for attempt in range(3):
            found = self.client.get_experiment_by_name(name)
            if found is not None:
                return found.experiment_id
            try:
                return self.client.create_experiment(name, artifact_location=location)
            except MlflowException:  # created by another process meanwhile
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- the journal: writes while a tracking server is unreachable -------------------------

    def _write(self, op: str, run_id: str, payload: dict) -> None:
        """Send one write now, or keep it in the journal when the server is unreachable (the
        journal sends it, once, in order, when the server is back)."""
        if self.journal is None:
            self._apply(op, run_id, payload)
        else:
            self.journal.write(op, run_id, payload)

    def _read(self, call):
        """A read (or a run's creation) needs the server: the journal is sent first, and an
        outage is waited out (before or between cells, never counted as training)."""

        def guarded():
            with self._guard():
                return call()

        if self.journal is None:
            return guarded()
        return self.journal.read(guarded)

    def _apply(self, op: str, run_id: str, payload: dict) -> None:
        with self._guard():
            self._send(op, run_id, payload)

    def _send(self, op: str, run_id: str, payload: dict) -> None:
        from mlflow.entities import Metric, Param, RunTag

        if op == "metrics":
            batch = [Metric(k, v, payload["time"], payload["step"]) for k, v in payload["values"]]
            for start in range(0, len(batch), 1000):
                self.client.log_batch(run_id, metrics=batch[start : start + 1000])
        elif op == "params":
            items = [Param(k, v) for k, v in payload["values"]]
            for start in range(0, len(items), 100):
                self.client.log_batch(run_id, params=items[start : start + 100])
        elif op == "tags":
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in payload["values"]])
        elif op == "artifact":
            self.client.log_artifact(run_id, payload["path"], payload["artifact_path"])
        elif op == "status":
            if payload["status"] == "RUNNING":
                self.client.update_run(run_id, status="RUNNING")
            else:
                self.client.set_terminated(run_id, status=payload["status"])
        else:
            raise ValueError(f"unknown journal entry {op!r}")

    def unsent(self) -> int:
        """Try to send the journal now; how many writes still wait (0 on a local store)."""
        return self.journal.flush() if self.journal is not None else 0

    def send_all(self, orphans: bool = False) -> int:
        """At the end of an invocation: wait for the server (up to ``GANBENCH_TRACKING_WAIT``
        seconds) to send this process's journal, and with ``orphans`` those its workers left;
        how many writes still wait when the wait ran out."""
        if self.journal is None:
            return 0
        return self.journal.send_all(orphans)

    # -- runs ----------------------------------------------------------------------------

    def start_run(self, name: str, tags: dict[str, Any], parent_id: str | None = None) -> str:
        tags = {key: str(value)[:TAG_LIMIT] for key, value in tags.items()}
        if parent_id:
            tags["mlflow.parentRunId"] = parent_id
        return self._read(
            lambda: self.client.create_run(self.experiment_id, tags=tags, run_name=name)
        ).info.run_id

    def reopen(self, run_id: str) -> bool:
        """Mark an existing run as running again; False when the store does not have it."""
        try:
            self._read(lambda: self.client.get_run(run_id))
        except Exception:  # the run id is from another store or was deleted
            return False
        self._write("status", run_id, {"status": "RUNNING"})
        return True

    def find_run(self, tags: dict[str, str]) -> str | None:
        """The id of a run of this experiment carrying all of ``tags``, if there is one."""
        clauses = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
        found = self._read(
            lambda: self.client.search_runs([self.experiment_id], clauses, max_results=1)
        )
        return found[0].info.run_id if found else None

    def close_if_running(self, run_id: str, reason: str) -> bool:
        """End a run left RUNNING by a dead process (KILLED, status ``interrupted``)."""
        try:
            if self._read(lambda: self.client.get_run(run_id)).info.status != "RUNNING":
                return False
        except Exception:  # not in this store
            return False
        self.set_tags(run_id, {"status": "interrupted", "status_reason": reason})
        self.end(run_id, "interrupted")
        return True

    def end(self, run_id: str, outcome: str) -> None:
        self._write("status", run_id, {"status": MLFLOW_STATUS.get(outcome, "FINISHED")})

    # -- data ----------------------------------------------------------------------------

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        values = [[key, value[:6000]] for key, value in sorted(params.items())]
        self._write("params", run_id, {"values": values})

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        values = [[key, str(value)[:TAG_LIMIT]] for key, value in tags.items()]
        self._write("tags", run_id, {"values": values})

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        values = [[key, float(value)] for key, value in metrics.items()]
        payload = {"values": values, "time": int(time.time() * 1000), "step": int(step)}
        self._write("metrics", run_id, payload)

    def logged_steps(self, run_id: str, key: str) -> set[int]:
        """The steps at which ``key`` has been logged in this run."""
        return {m.step for m in self._read(lambda: self.client.get_metric_history(run_id, key))}

    def last_step(self, run_id: str, key: str) -> int | None:
        return max(self.logged_steps(run_id, key), default=None)

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self._write("artifact", run_id, {"path": str(path), "artifact_path": artifact_path})
