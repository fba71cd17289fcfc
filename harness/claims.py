"""A claim per cell: two invocations, or two workers, never train the same cell at once.

A cell's claim lives in its run directory, beside its state and checkpoint:

- ``claim.lock`` is locked (``flock``) by the holder for as long as it trains the cell; the
  operating system drops the lock when the holder dies, however it dies (SIGKILL included), so
  on one machine a dead holder's claim is free at once;
- ``claim.json`` says who holds it (host, pid, invocation) and carries a heartbeat, refreshed
  every ``HEARTBEAT_S`` seconds; on a results folder shared between machines, a claim from
  another host whose heartbeat is older than ``STALE_S`` is taken over.

Whoever takes a claim over resumes the cell from its checkpoint, continuing its MLflow run.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

HEARTBEAT_S = 10.0
STALE_S = 60.0


def _holder(invocation: str | None) -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "invocation": invocation or "-",
        "since": time.time(),
        "heartbeat": time.time(),
    }


def read_claim(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / "claim.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return f"pid {holder.get('pid')} on {holder.get('host')}"


class Claim:
    """A held claim; ``release()`` (or the holder's death) frees it."""

    def __init__(self, run_dir: Path, handle, holder: dict) -> None:
        self.run_dir, self.handle, self.holder = Path(run_dir), handle, holder
        self._stop = threading.Event()
        self._write()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True)
        self._beat.start()

    def _write(self) -> None:
        path = self.run_dir / "claim.json"
        tmp = path.with_name(f"claim.json.tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.holder))
        os.replace(tmp, path)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.holder["heartbeat"] = time.time()
            try:
                self._write()
            except OSError:  # a full disk: the lock still holds on this machine
                pass

    def release(self) -> None:
        self._stop.set()
        self._beat.join(timeout=5)
        (self.run_dir / "claim.json").unlink(missing_ok=True)
        _unlock(self.handle)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _lock(run_dir: Path):
    """The open, locked ``claim.lock``; None when another live process holds it."""
    handle = open(Path(run_dir) / "claim.lock", "a+b")
    try:
        import fcntl
    except ImportError:  # not POSIX: the heartbeat alone decides
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _unlock(handle) -> None:
    try:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_UN)
    except ImportError:
        pass
    handle.close()


def _foreign_and_alive(holder: dict) -> bool:
    """A claim recorded by a process on another machine whose heartbeat is recent."""
    if not holder or holder.get("host") == socket.gethostname():
        return False  # on this machine the lock alone says whether the holder lives
    return time.time() - float(holder.get("heartbeat", 0)) < STALE_S


def try_claim(run_dir: Path, invocation: str | None = None) -> Claim | None:
    """Claim the cell for this process; None when a live holder has it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = _lock(run_dir)
    if handle is None:
        return None
    if _foreign_and_alive(read_claim(run_dir)):
        _unlock(handle)
        return None
    return Claim(run_dir, handle, _holder(invocation))


def is_held(run_dir: Path) -> bool:
    """Whether a live process (here or, by its heartbeat, elsewhere) holds the cell's claim."""
    run_dir = Path(run_dir)
    if not (run_dir / "claim.lock").exists():
        return False
    handle = _lock(run_dir)
    if handle is None:
        return True
    try:
        return _foreign_and_alive(read_claim(run_dir))
    finally:
        _unlock(handle)
