"""Executors: cells in local worker processes give the in-process numbers bit for bit, attach
to one parent run, and log every step once."""

import io
import json

import torch
from conftest import REPO, run_cli, suite_text, training_values
from mlflow import MlflowClient

from harness import api
from harness.config import expand, load_suite
from harness.executors import parse_workers
from harness.runner import run_dir_of, run_suite


def _state(cell, results):
    return json.loads((run_dir_of(cell, results) / "state.json").read_text())


def test_two_workers_give_the_in_process_results_bit_for_bit(tmp_path, write_suite):
    path = write_suite(
        suite_text(
            name="smoke",
            variants='[[variants]]\npreset = "gan"\nwidth = 32\n\n[[variants]]\npreset = "dcgan"\n'
            "width = 32\n",
            budget="kimg = 0.5\nticks = 2",
            evaluation='metrics = ["modes_covered", "high_quality_fraction"]\nnum_samples = 500',
        )
    )
    suite = load_suite(path)
    cells = expand(suite)
    parallel, serial = tmp_path / "parallel", tmp_path / "serial"

    done = run_cli("run", path, "--workers", "2", results=parallel)
    assert done.returncode == 0, done.stderr
    # Progress lines name each cell's place in the suite, whichever worker ran it.
    for position, cell in enumerate(cells, start=1):
        assert f"[{position}/{len(cells)}] {cell.cell_name}: completed" in done.stderr
    outcome = run_suite(suite, serial, device="cpu")
    assert outcome.ok
    # Each cell's evaluation share is in its record and in the run table.
    assert "eval%" in done.stdout.splitlines()[0]
    for cell in cells:
        share = _state(cell, parallel)["record"]["eval_share"]
        assert 0 < share < 1, share

    for cell in cells:
        a, b = _state(cell, parallel), _state(cell, serial)
        assert training_values(a["record"]) == training_values(b["record"]), cell.cell_name
        ckpt_a = torch.load(run_dir_of(cell, parallel) / "checkpoint.pt", weights_only=True)
        ckpt_b = torch.load(run_dir_of(cell, serial) / "checkpoint.pt", weights_only=True)
        for key, tensor in ckpt_a["recipe"]["generator"].items():
            assert torch.equal(tensor, ckpt_b["recipe"]["generator"][key]), (cell.cell_name, key)

    client = MlflowClient(tracking_uri=f"sqlite:///{parallel.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ganbench/smoke")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("kind") == "suite_invocation"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].data.tags["workers"] == "2"
    assert parents[0].info.status == "FINISHED"
    assert len(children) == len(cells)
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert child.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "loss_d")]
        assert steps == sorted(set(steps)) and len(steps) == 2  # each tick logged once

    # A second parallel invocation of the finished suite trains nothing and adds no run.
    again = run_cli("run", path, "--workers", "2", results=parallel)
    assert again.returncode == 0 and again.stdout.count("(skipped)") == len(cells)
    assert len(client.search_runs([experiment.experiment_id], max_results=100)) == len(runs)


def test_bad_worker_counts_get_one_line_and_exit_2(tmp_path):
    suite = str(REPO / "suites" / "smoke.toml")
    for value in ("0", "-1", "two"):
        for command in (api.run, api.nightly):
            err = io.StringIO()
            code = command(
                suite, results_dir=str(tmp_path), out=io.StringIO(), err=err, workers=value
            )
            message = err.getvalue()
            assert code == 2 and message.count("\n") == 1 and "--workers" in message, message
    done = run_cli("run", suite, "--workers", "0", results=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--workers" in done.stderr
    assert not (tmp_path / "mlflow.db").exists()
    assert parse_workers("auto") >= 1 and parse_workers(3) == 3
