"""A local journal for a tracking server that goes away.

When a write to the tracking server fails because the server cannot be reached, the write and
every later one are appended to ``<results>/journal/<process>/entries.jsonl`` instead (in
order, each with the timestamp it was made at), and training goes on without waiting. The
journal is sent, once and in order, as soon as the server answers again (tried every
``RETRY_S`` seconds at the next write, and before any read), at the end of the invocation, or
by the next invocation on the same results folder (a journal whose process died). Metrics are
sent with their original timestamps, so a batch the server had in fact received before the
connection broke is not stored twice.

Reads (and creating a run, which needs the server's run id) cannot be journaled: they send the
journal first and wait for the server, up to ``GANBENCH_TRACKING_WAIT`` seconds (default one
hour), printing one line when the wait begins and one when it ends. Those waits happen between
cells, never inside the training loop, so they are not counted as training time.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from harness import claims

RETRY_S = 30.0


class TrackingUnavailable(Exception):
    """The tracking server stayed unreachable for longer than we wait."""


def fail_fast() -> None:
    """MLflow retries a failed request for minutes by default; with the journal behind it a
    write can fail fast. Only defaults are changed: the user's settings win."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def unreachable(error: BaseException | None) -> bool:
    """Whether ``error`` says the server could not be reached (rather than refusing)."""
    import requests

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
            return True
        text = str(error)
        if "Max retries exceeded" in text or "Connection refused" in text:
            return True
        if "failed with timeout exception" in text or "TEMPORARILY_UNAVAILABLE" in text:
            return True
        if getattr(error, "error_code", None) == "TEMPORARILY_UNAVAILABLE":
            return True
        error = error.__cause__ or error.__context__
    return False


class Journal:
    def __init__(self, results: Path, apply, stream=None) -> None:
        self.root = Path(results) / "journal"
        self.apply, self.stream = apply, stream or sys.stderr
        self.folder = self.root / f"{os.getpid()}-{time.time_ns()}"
        self.claim = None
        self.pending: list[dict] = []
        self.next_try = 0.0

    # -- writing -----------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self.folder / "entries.jsonl"

    def _append(self, entry: dict) -> None:
        if self.claim is None:  # the folder is made and claimed on the first entry
            self.claim = claims.try_claim(self.folder)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.pending.append(entry)

    def write(self, op: str, run_id: str, payload: dict) -> None:
        entry = {"op": op, "run_id": run_id, **payload}
        if self.pending:
            self._append(entry)
            if time.monotonic() >= self.next_try:
                self.flush()
            return
        try:
            self.apply(op, run_id, payload)
        except Exception as error:
            if not unreachable(error):
                raise
            self._say(
                f"tracking server unreachable ({_short(error)}); keeping its records in {self.path}"
            )
            self.next_try = time.monotonic() + RETRY_S
            self._append(entry)

    def flush(self) -> int:
        """Send what waits, in order; the number of entries still waiting."""
        if not self.pending:
            return 0
        sent = _send(self.pending, self.apply)
        if sent:
            self.pending = self.pending[sent:]
            self._rewrite()
        if self.pending:
            self.next_try = time.monotonic() + RETRY_S
        else:
            self._say(f"tracking server back: sent {sent} journaled records")
        return len(self.pending)

    def _rewrite(self) -> None:
        if not self.pending:
            self.close()
            return
        tmp = self.path.with_name(f"entries.jsonl.tmp{os.getpid()}")
        tmp.write_text("".join(json.dumps(entry) + "\n" for entry in self.pending))
        os.replace(tmp, self.path)

    def close(self) -> None:
        """Remove this process's (empty) journal folder."""
        import shutil

        if self.claim is not None:
            self.claim.release()
            self.claim = None
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- reading -----------------------------------------------------------------------

    def read(self, call, wait_s: float | None = None):
        """``call()`` once the journal is sent and the server answers; waits out an outage."""
        wait_s = float(os.environ.get("GANBENCH_TRACKING_WAIT", 3600)) if wait_s is None else wait_s
        began, said = time.monotonic(), False
        while True:
            try:
                if self.flush() == 0:
                    result = call()
                    if said:
                        self._say(f"tracking server back after {time.monotonic() - began:.0f} s")
                    return result
                error = None
            except Exception as caught:
                if not unreachable(caught):
                    raise
                error = caught
            waited = time.monotonic() - began
            if waited > wait_s:
                raise TrackingUnavailable(
                    f"tracking server unreachable for {waited:.0f} s"
                    + (f" ({_short(error)})" if error else "")
                    + f"; {len(self.pending)} records wait in {self.path}"
                )
            if not said:
                self._say("tracking server unreachable; waiting for it (not counted as training)")
                said = True
            time.sleep(min(10.0, max(wait_s - waited, 0.1)))

    def send_all(self, orphans: bool = False) -> int:
        """Send this journal (and with ``orphans`` the dead processes' ones), waiting for the
        server up to ``GANBENCH_TRACKING_WAIT`` seconds; how many records still wait."""
        wait_s = float(os.environ.get("GANBENCH_TRACKING_WAIT", 3600))
        began, said = time.monotonic(), False
        while True:
            left = self.flush() + (self.replay_orphans(quiet=said) if orphans else 0)
            if left == 0 or time.monotonic() - began > wait_s:
                return left
            if not said:
                self._say(f"tracking server unreachable; waiting to send {left} records")
                said = True
            time.sleep(min(10.0, wait_s))

    def replay_orphans(self, quiet: bool = False) -> int:
        """Send the journals of processes that died (or ended) before the server came back;
        the number of their records still waiting."""
        left = 0
        if not self.root.is_dir():
            return left
        for folder in sorted(self.root.iterdir()):
            if folder == self.folder or not folder.is_dir():
                continue
            claim = claims.try_claim(folder)
            if claim is None:  # its process is alive and will send it
                continue
            path = folder / "entries.jsonl"
            entries = []
            lines = path.read_text().splitlines() if path.exists() else []
            for line in lines:  # a kill mid-append tears the last line only
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    break
            sent = _send(entries, self.apply)
            claim.release()
            if sent == len(entries):
                import shutil

                shutil.rmtree(folder, ignore_errors=True)
                if entries:
                    self._say(f"sent {sent} records journaled by an earlier invocation")
            else:
                left += len(entries) - sent
                if not quiet:
                    self._say(
                        f"tracking server unreachable: {len(entries) - sent} records stay in {path}"
                    )
        return left

    def _say(self, text: str) -> None:
        print(f"ganbench: {text}", file=self.stream, flush=True)


def _send(entries: list[dict], apply) -> int:
    """Apply entries in order until the server cannot be reached; how many were applied."""
    for count, entry in enumerate(entries):
        payload = {k: v for k, v in entry.items() if k not in ("op", "run_id")}
        try:
            apply(entry["op"], entry["run_id"], payload)
        except FileNotFoundError:  # an artifact whose file is gone: nothing left to send
            continue
        except Exception as error:
            if unreachable(error):
                return count
            raise
    return len(entries)


def _short(error: BaseException | None) -> str:
    text = str(error).splitlines()[0] if error is not None else ""
    return text[:160]
