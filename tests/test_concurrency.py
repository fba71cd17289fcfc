"""Many invocations, one store: a claim per cell, a store that cannot be bricked, and runs
that killed invocations left RUNNING are closed by the next one."""

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import REPO, clean_env, run_cli, suite_text, training_values
from mlflow import MlflowClient

from harness import claims
from harness.config import expand, load_suite
from harness.runner import read_state, run_dir_of, run_suite


def _start(path, results):
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(path)],
        cwd=REPO,
        env=clean_env(results),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _runs(results, experiment="ganbench/cc"):
    client = MlflowClient(tracking_uri=f"sqlite:///{results.resolve() / 'mlflow.db'}")
    found = client.get_experiment_by_name(experiment)
    return client, client.search_runs([found.experiment_id], max_results=200)


def _two_together(path, results):
    first, second = _start(path, results), _start(path, results)
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    for process, (out, err) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in err and "Traceback" not in out, err
    return outputs


def test_two_invocations_together_train_every_cell_once(write_suite, tmp_path):
    text = suite_text(name="cc", seeds="[0, 1]", budget="kimg = 0.5\nticks = 2")
    path = write_suite(text)
    shared, alone = tmp_path / "shared", tmp_path / "alone"

    _two_together(path, shared)  # a fresh results folder: both create the store at once
    path.write_text(text.replace("seeds = [0, 1]", "seeds = [0, 1, 2]"))
    outputs = _two_together(path, shared)  # an existing one, with two new cells
    tables = [out for out, _ in outputs]
    assert sum(table.count("(skipped)") for table in tables) == 2 * 2  # the old cells
    assert all(table.count("completed") == 3 for table in tables)

    suite = load_suite(path)
    assert run_suite(suite, alone, device="cpu").ok
    client, runs = _runs(shared)
    cells = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.tags["seed"] for r in cells) == ["0", "1", "2"]  # one each
    for run in runs:
        assert run.info.status == "FINISHED", run.data.tags
    for cell in expand(suite):
        state = read_state(run_dir_of(cell, shared))
        reference = read_state(run_dir_of(cell, alone))
        assert training_values(state["record"]) == training_values(reference["record"])
        steps = [m.step for m in client.get_metric_history(state["run_id"], "loss_d")]
        assert len(steps) == 2 and len(set(steps)) == 2  # no tick logged twice
        leftovers = [p.name for p in run_dir_of(cell, shared).iterdir() if ".tmp" in p.name]
        assert not leftovers and not (run_dir_of(cell, shared) / "claim.json").exists()


def _hold_claim(run_dir):
    """A process that claims ``run_dir`` and waits to be killed."""
    code = (
        "import sys, time; from harness import claims;"
        f"c = claims.try_claim({str(run_dir)!r}); print(c is not None, flush=True); time.sleep(600)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "True"
    return process


def test_a_claim_is_exclusive_until_its_holder_dies(tmp_path):
    run_dir = tmp_path / "cell"
    holder = _hold_claim(run_dir)
    try:
        assert claims.is_held(run_dir)
        assert claims.try_claim(run_dir) is None  # a second claimant is refused
        assert claims.read_claim(run_dir)["pid"] == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not claims.is_held(run_dir)  # the kill freed it, with no heartbeat to wait for
    claim = claims.try_claim(run_dir)
    assert claim is not None and claims.read_claim(run_dir)["pid"] == os.getpid()
    claim.release()
    assert not (run_dir / "claim.json").exists()


def test_a_claim_from_another_machine_counts_until_its_heartbeat_goes_stale(tmp_path):
    import json

    run_dir = tmp_path / "cell"
    run_dir.mkdir()
    remote = {"host": "elsewhere", "pid": 1, "heartbeat": time.time()}
    (run_dir / "claim.json").write_text(json.dumps(remote))
    (run_dir / "claim.lock").touch()
    assert claims.is_held(run_dir) and claims.try_claim(run_dir) is None
    remote["heartbeat"] = time.time() - claims.STALE_S - 1
    (run_dir / "claim.json").write_text(json.dumps(remote))
    claim = claims.try_claim(run_dir)
    assert claim is not None
    claim.release()


def test_chaos_kills_then_a_rerun_equal_the_uninterrupted_run(tmp_path):
    """The small version of tests/benchmarks/chaos.py: a kill while the store is created and
    one mid-cell, on a 1-cell suite."""
    import io

    sys.path.insert(0, str(REPO / "tests" / "benchmarks"))
    from chaos import chaos

    log = io.StringIO()
    problems = chaos(tmp_path, kills=2, cells=1, workers=1, seed=3, out=log, kimg=4, ticks=8)
    assert problems == [], log.getvalue()
    assert "kill  1: while the store is created: killed; 0/1 cells done" in log.getvalue()
    assert "ticks done + " in log.getvalue() and "killed; 0/1" in log.getvalue().splitlines()[2]
    assert not list((tmp_path / "chaos").glob(".mlflow.db.creating-*"))


def test_a_half_migrated_store_is_rebuilt_and_a_damaged_one_with_runs_is_refused(
    write_suite, tmp_path
):
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase
    from sqlalchemy import create_engine

    from harness import api

    path = write_suite(suite_text(name="cc", budget="kimg = 0.25\nticks = 1"))
    results = tmp_path / "results"
    results.mkdir()
    engine = create_engine(f"sqlite:///{results / 'mlflow.db'}")
    InitialBase.metadata.create_all(engine)  # what an old kill mid-migration left behind
    engine.dispose()
    err = io.StringIO()
    code = api.run(str(path), results_dir=str(results), device="cpu", out=io.StringIO(), err=err)
    assert code == 0, err.getvalue()
    assert len(list(results.glob("mlflow.db.broken-*"))) == 1  # kept aside, not deleted

    connection = sqlite3.connect(results / "mlflow.db")
    connection.execute("DROP TABLE metrics")  # damaged, and it holds a run
    connection.commit()
    connection.close()
    before = (results / "mlflow.db").read_bytes()
    path.write_text(path.read_text().replace("seeds = [0]", "seeds = [1]"))
    err = io.StringIO()
    code = api.run(str(path), results_dir=str(results), device="cpu", out=io.StringIO(), err=err)
    message = err.getvalue().strip()
    assert code == 2 and "\n" not in message, message
    assert "mlflow.db" in message and "damaged" in message
    assert (results / "mlflow.db").read_bytes() == before  # nothing touched


def test_a_new_store_copied_from_the_cached_template_equals_one_migrated_in_place(tmp_path):
    """A new store is a copy of a migrated template kept in the cache: the same tables and
    schema revision as MLflow's in-place migration, the default experiment's artifacts in its
    own results folder, and the template made once (a second store does not remake it)."""
    from harness.track import store

    def schema(db):
        """Every table and index with its SQL as a sorted list of lines (the migrations write
        a table's CHECK constraints in an order that varies from one process to the next)."""
        connection = sqlite3.connect(db)
        try:
            objects = sorted(
                (kind, name, sorted((sql or "").replace(",", "").splitlines()))
                for kind, name, sql in connection.execute(
                    "SELECT type, name, sql FROM sqlite_master"
                )
            )
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchall()
            experiments = connection.execute(
                "SELECT experiment_id, name, artifact_location FROM experiments"
            ).fetchall()
            return objects, revision, experiments
        finally:
            connection.close()

    cache = tmp_path / "cache"
    in_place = store.prepare(tmp_path / "in-place")  # no cache: MLflow migrates the file
    first = store.prepare(tmp_path / "first", cache)
    (template,) = cache.glob("mlflow-*.db")
    made = template.stat().st_mtime_ns
    second = store.prepare(tmp_path / "second", cache)
    assert template.stat().st_mtime_ns == made  # reused, not remade
    want_tables, want_revision, _ = schema(in_place)
    for db in (first, second):
        tables, revision, experiments = schema(db)
        assert (tables, revision) == (want_tables, want_revision)
        location = (db.parent / "artifacts" / "0").as_uri()
        assert experiments == [(0, "Default", location)]


@pytest.mark.slow  # the parent-run half is also checked by the default SIGKILL resume test
def test_runs_a_killed_invocation_left_running_are_closed_by_the_next(write_suite, tmp_path):
    path = write_suite(suite_text(name="cc", budget="kimg = 20\nticks = 4"))
    results = tmp_path / "results"
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(path)],
        cwd=REPO,
        env=clean_env(results),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cell = expand(load_suite(path))[0]
    deadline = time.time() + 120
    while time.time() < deadline and read_state(run_dir_of(cell, results)).get("status") != (
        "running"
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    _, runs = _runs(results)
    runs = [r for r in runs if r.data.tags.get("kind") != "real_data"]
    assert [r.info.status for r in runs] == ["RUNNING", "RUNNING"]  # the parent and the cell

    # The next invocation, of another suite in the same experiment, closes both.
    other = write_suite(
        suite_text(name="cc", seeds="[7]", budget="kimg = 0.25\nticks = 1"), "o.toml"
    )
    assert run_cli("run", other, results=results).returncode == 0
    _, runs = _runs(results)
    left = {r.info.run_id: r for r in runs if r.data.tags.get("kind") != "real_data"}
    killed = [r for r in left.values() if r.info.status == "KILLED"]
    assert len(killed) == 2 and all(r.data.tags["status"] == "interrupted" for r in killed)
    assert not [r for r in left.values() if r.info.status == "RUNNING"]


def _can_mount_tmpfs() -> bool:
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs none /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_rerun_resumes(write_suite, tmp_path):
    """The results folder on a small tmpfs (in a private mount namespace) fills up mid-suite."""
    import shutil

    from harness.track import store

    if shutil.which("unshare") is None or not _can_mount_tmpfs():
        pytest.skip("needs unshare and permission to mount a tmpfs in a mount namespace")
    path = write_suite(suite_text(name="cc", seeds="[0, 1, 2, 3]", budget="kimg = 0.5\nticks = 2"))
    empty = store.prepare(tmp_path / "empty")  # the size of a new store, to size the disk
    size = empty.stat().st_size + 300_000
    disk, kept = tmp_path / "disk", tmp_path / "kept"
    disk.mkdir()
    script = (
        f"mount -t tmpfs -o size={size} tmpfs {disk} && "
        f"{sys.executable} -m harness run {path} > {tmp_path}/out 2> {tmp_path}/err; "
        f"echo $? > {tmp_path}/code; cp -a {disk} {kept}"
    )
    subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        cwd=REPO,
        env=clean_env(disk),
        check=True,
    )
    err = (tmp_path / "err").read_text()
    assert (tmp_path / "code").read_text().strip() == "2", err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and last.startswith("error: ") and "is full" in last, err
    states = {d.name: read_state(d) for d in (kept / "runs" / "cc").iterdir()}
    assert "completed" in {s.get("status") for s in states.values()}  # it stopped mid-suite
    assert len(states) < 4 or "running" in {s.get("status") for s in states.values()}
    for folder in (kept / "runs" / "cc").iterdir():
        names = [p.name for p in folder.iterdir()]
        assert not [n for n in names if ".tmp" in n] and "error.txt" not in names, names

    # Moved to a disk with room (the store and paths are relative to the results root).
    done = run_cli("run", path, results=kept)
    assert done.returncode == 0, done.stderr
    suite = load_suite(path)
    reference = tmp_path / "reference"
    assert run_suite(suite, reference, device="cpu").ok
    client, runs = _runs(kept)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    cells = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.data.tags["seed"] for r in cells) == ["0", "1", "2", "3"]
    for cell in expand(suite):
        got = read_state(run_dir_of(cell, kept))["record"]
        assert training_values(got) == training_values(
            read_state(run_dir_of(cell, reference))["record"]
        )


def _workers_running_cells(path, results, stop_signal):
    """Start `ganbench run --workers 2`, wait until two cells are training, send the driver
    ``stop_signal``; return the process and the pids holding those cells' claims."""
    process = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(path), "--workers", "2"],
        cwd=REPO,
        env=clean_env(results),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_dirs = [run_dir_of(cell, results) for cell in expand(load_suite(path))]

    def training():
        return [
            d for d in run_dirs if read_state(d).get("status") == "running" and claims.read_claim(d)
        ]

    deadline = time.time() + 120
    while time.time() < deadline and len(training()) < 2:
        time.sleep(0.05)
    holders = [claims.read_claim(d)["pid"] for d in training()]
    assert len(holders) == 2
    assert process.pid not in holders  # the workers hold them
    process.send_signal(stop_signal)
    return process, holders


def _gone(pids, within: float) -> bool:
    deadline = time.time() + within
    while time.time() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _cell_statuses(results):
    _, runs = _runs(results)
    return sorted(
        (r.info.status, r.data.tags.get("status"))
        for r in runs
        if r.data.tags.get("kind") not in ("real_data", "invocation") and "seed" in r.data.tags
    )


def test_sigterm_to_the_driver_stops_its_workers_and_closes_their_runs(write_suite, tmp_path):
    path = write_suite(suite_text(name="cc", seeds="[0, 1]", budget="kimg = 200\nticks = 4"))
    results = tmp_path / "results"
    process, workers = _workers_running_cells(path, results, signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143
    assert err.strip().splitlines()[-1] == (
        "ganbench: terminated; re-run the same command to resume"
    )
    assert "Traceback" not in err, err
    assert _gone(workers, within=10)
    assert _cell_statuses(results) == [("KILLED", "interrupted")] * 2


def test_sigterm_with_cells_still_queued_stops_without_starting_them(write_suite, tmp_path):
    """The pool had already handed each worker its next job: a worker that went on to it
    after closing its cell kept the driver waiting for two more whole cells."""
    # A long budget: a cell that finished before the signal would let its worker start a
    # queued one legitimately (seen once under load with 200 kimg).
    budget = "kimg = 5000\nticks = 4"
    path = write_suite(suite_text(name="cc", seeds="[0, 1, 2, 3]", budget=budget))
    results = tmp_path / "results"
    process, workers = _workers_running_cells(path, results, signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert _gone(workers, within=10)
    assert _cell_statuses(results) == [("KILLED", "interrupted")] * 2  # the two queued: no run
    run_dirs = [run_dir_of(cell, results) for cell in expand(load_suite(path))]
    assert sum(read_state(d) == {} for d in run_dirs) == 2  # never started: no state either


@pytest.mark.slow  # ~40 s: the workers' own watchdog, which polls once a second
def test_workers_whose_driver_is_killed_close_their_runs_and_exit(write_suite, tmp_path):
    path = write_suite(suite_text(name="cc", seeds="[0, 1]", budget="kimg = 200\nticks = 4"))
    results = tmp_path / "results"
    process, workers = _workers_running_cells(path, results, signal.SIGKILL)
    process.wait()
    assert _gone(workers, within=20)  # well before the 30 s fallback exit
    assert _cell_statuses(results) == [("KILLED", "interrupted")] * 2
