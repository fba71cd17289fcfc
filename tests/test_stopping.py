"""SIGTERM stops a process as Ctrl-C does, but never inside a call to the store."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import REPO

# Each check runs in a process of its own: it installs a SIGTERM handler and signals itself.
SHIELD = """
import os, signal
from harness.stopping import Terminated, raise_on_sigterm, shielded

raise_on_sigterm()
steps = []
try:  # Ctrl-C inside a store call: KeyboardInterrupt once the call is done
    with shielded():
        os.kill(os.getpid(), signal.SIGINT)
        steps.append("call")
except Terminated:
    steps.append("wrong")
except KeyboardInterrupt:
    steps.append("interrupted")
try:
    with shielded():
        with shielded():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("inner")
        steps.append("outer")
    steps.append("after")
except Terminated:
    steps.append("terminated")
try:
    os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM while stopping: ignored
    steps.append("second ignored")
except Terminated:
    steps.append("second raised")
print(" ".join(steps))
"""

TRACKER = """
import os, signal, sys
from mlflow import MlflowClient
from harness.stopping import Terminated, raise_on_sigterm
from harness.track.mlflow_tracker import MlflowTracker

raise_on_sigterm()
tracker = MlflowTracker(sys.argv[1], "stop")
run = tracker.start_run("cell", {"status": "running"})
real = tracker.client.log_batch

def signalled(*args, **kwargs):  # the real call, with a SIGTERM arriving at its start
    os.kill(os.getpid(), signal.SIGTERM)
    return real(*args, **kwargs)

tracker.client.log_batch = signalled
try:
    tracker.log_metrics(run, {"loss": 1.5}, step=3)
    print("not stopped")
except Terminated:
    tracker.client.log_batch = real
    tracker.set_tags(run, {"status": "interrupted"})
    tracker.end(run, "interrupted")
got = MlflowClient(tracker.uri).get_run(run)
print(got.info.status, got.data.tags["status"], got.data.metrics.get("loss"))
"""


def _python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_sigterm_inside_a_shielded_block_is_acted_on_when_the_outermost_block_ends():
    assert _python(SHIELD) == "call interrupted inner outer terminated second ignored"


def test_a_sigterm_during_a_store_write_lets_the_write_finish_and_the_run_close(tmp_path):
    # Without the shield the exception is raised inside SQLAlchemy's call: the metric is lost
    # and, with the transaction left open, closing the run can fail on the write lock.
    assert _python(TRACKER, str(tmp_path / "results")) == "KILLED interrupted 1.5"


OPTUNA = """
import os, signal, sys
import optuna
from optuna.storages import RDBStorage
from harness.stopping import Terminated, raise_on_sigterm
from harness.study.storage import shield_calls

raise_on_sigterm()
storage = RDBStorage("sqlite:///" + sys.argv[1])
real = storage.create_new_study

def signalled(*args, **kwargs):  # the real call, with a SIGTERM arriving at its start
    os.kill(os.getpid(), signal.SIGTERM)
    return real(*args, **kwargs)

storage.create_new_study = signalled
storage = shield_calls(storage)
try:
    optuna.create_study(study_name="s", storage=storage)
    print("not stopped")
except Terminated:
    print(isinstance(storage, RDBStorage), [s.study_name for s in RDBStorage(
        "sqlite:///" + sys.argv[1]).get_all_studies()])
"""


def test_a_sigterm_during_an_optuna_storage_call_lets_the_call_finish(tmp_path):
    assert _python(OPTUNA, str(tmp_path / "optuna.db")) == "True ['s']"


# The garbage collector runs a weakref callback; the SIGTERM's handler runs inside it, where
# Python drops exceptions ("Exception ignored in ...") instead of propagating them.
IN_CALLBACK = """
import os, signal, time, weakref
from harness.stopping import Terminated, raise_on_sigterm

raise_on_sigterm()

class Thing:
    pass

def callback(ref):
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(1000):  # the handler runs in here
        pass

thing = Thing()
ref = weakref.ref(thing, callback)
try:
    del thing
    deadline = time.time() + 10
    while time.time() < deadline:
        time.sleep(0.01)
    print("not stopped")
except Terminated:
    print("terminated")
"""


def test_a_sigterm_whose_exception_python_drops_in_a_gc_callback_still_stops_the_process():
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(IN_CALLBACK)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "terminated"
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
