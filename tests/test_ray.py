"""``--executor ray`` against a real local Ray cluster started by the test on 127.0.0.1: the
in-process results bit for bit, and a Ray worker killed mid-cell is retried and resumes the
cell from its checkpoint."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import REPO, clean_env, suite_text, training_values

from harness.config import expand, load_suite
from harness.runner import read_state, run_dir_of, run_suite

pytest.importorskip("ray", reason="Ray is installed with the 'ray' extra")


@pytest.fixture
def ray_cluster():
    """A one-node Ray cluster on 127.0.0.1 with 2 CPUs; yields its address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
    # A private cluster on the loopback interface: no token authentication.
    env = {**clean_env(), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    temp = f"/tmp/ray-{os.getpid()}-{port}"  # short: Ray's socket paths must stay short
    started = subprocess.run(
        [
            ray,
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def _ray_run(path, results, address, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(path), "--executor", "ray"]
        + ["--address", address],
        cwd=REPO,
        env=clean_env(results),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def test_ray_gives_the_in_process_results_and_survives_a_killed_worker(
    ray_cluster, write_suite, tmp_path
):
    path = write_suite(suite_text(name="ray", seeds="[0, 1]", budget="kimg = 8\nticks = 8"))
    suite = load_suite(path)
    cells = expand(suite)
    reference, results = tmp_path / "reference", tmp_path / "results"
    assert run_suite(suite, reference, device="cpu").ok

    process = _ray_run(path, results, ray_cluster)
    # Kill the Ray worker training the first cell once it has a checkpoint to resume from.
    target = run_dir_of(cells[0], results)
    deadline, killed = time.time() + 600, None
    while time.time() < deadline and process.poll() is None and killed is None:
        holder = {}
        try:
            holder = json.loads((target / "claim.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        ticks = len(list(target.glob("samples/*.png")))
        if holder and 2 <= ticks < 8:
            os.kill(holder["pid"], signal.SIGKILL)
            killed = ticks
        time.sleep(0.05)
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, err[-3000:]
    assert killed is not None, "the first cell ended before its worker could be killed"
    assert "resuming at iteration" in err  # Ray retried the task; it resumed, not restarted
    for cell in cells:
        got = read_state(run_dir_of(cell, results))
        want = read_state(run_dir_of(cell, reference))
        assert got["status"] == "completed"
        assert training_values(got["record"]) == training_values(want["record"]), cell.cell_name
