"""The runner end to end against a real MLflow SQLite store: reproducibility, statuses, the
smoke suite through the CLI, and resume after SIGKILL."""

import json

import pytest
import torch
from conftest import (
    REPO,
    kill_after_pictures,
    make_cell,
    run_cli,
    start_mlflow_server,
    stop,
    suite_text,
    training_values,
)
from mlflow import MlflowClient

from harness.config import load_suite
from harness.runner import run_dir_of, run_one, run_suite
from harness.track.mlflow_tracker import MlflowTracker


def client_for(results):
    return MlflowClient(tracking_uri=f"sqlite:///{results.resolve() / 'mlflow.db'}")


def runs_of(results, experiment):
    client = client_for(results)
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], max_results=1000)


def train_cell(cell, results):
    results.mkdir(parents=True, exist_ok=True)
    tracker = MlflowTracker(results, "test")
    return run_one(cell, results, torch.device("cpu"), tracker)


CELL_ARGS = dict(
    params={"size": 2000, "test_size": 500},
    width=32,
    budget={"kimg": 2, "ticks": 2},
    evaluation={
        "num_samples": 500,
        "metrics": ["modes_covered", "high_quality_fraction", "reverse_kl"],
    },
)


def test_same_cell_twice_is_bit_identical_and_another_seed_differs(tmp_path):
    cell = make_cell("gan", "ring8", **CELL_ARGS)
    first = train_cell(cell, tmp_path / "a")
    second = train_cell(cell, tmp_path / "b")
    other = train_cell(make_cell("gan", "ring8", seed=1, **CELL_ARGS), tmp_path / "c")
    assert first.status == second.status == other.status == "completed"
    assert "modes_covered" in first.record and "loss_d" in first.record
    assert training_values(first.record) == training_values(second.record)
    assert training_values(first.record) != training_values(other.record)
    a = torch.load(run_dir_of(cell, tmp_path / "a") / "checkpoint.pt", weights_only=True)
    b = torch.load(run_dir_of(cell, tmp_path / "b") / "checkpoint.pt", weights_only=True)
    for key, tensor in a["recipe"]["generator"].items():
        assert torch.equal(tensor, b["recipe"]["generator"][key])


def test_a_completed_cell_is_skipped_on_a_second_call(tmp_path):
    cell = make_cell("gan", "ring8", **CELL_ARGS)
    first = train_cell(cell, tmp_path)
    again = train_cell(cell, tmp_path)
    assert again.skipped and again.status == "completed" and again.run_id == first.run_id
    _, runs = runs_of(tmp_path, "test")
    assert len(runs) == 1


def test_a_time_limited_cell_resumes_to_the_uninterrupted_result(tmp_path):
    args = {**CELL_ARGS, "budget": {"kimg": 4, "ticks": 2, "max_minutes": 0.001}}
    capped = make_cell("gan", "ring8", **args)
    first = train_cell(capped, tmp_path / "capped")
    assert first.status == "time_limit" and first.record["kimg"] < 4
    uncapped = make_cell("gan", "ring8", **{**args, "budget": {"kimg": 4, "ticks": 2}})
    assert uncapped.spec_hash == capped.spec_hash  # the cap is not part of the identity
    resumed = train_cell(uncapped, tmp_path / "capped")
    straight = train_cell(uncapped, tmp_path / "straight")
    assert resumed.status == straight.status == "completed" and resumed.resumed
    assert resumed.run_id == first.run_id
    assert training_values(resumed.record) == training_values(straight.record)


def test_smoke_suite_end_to_end_through_the_cli(tmp_path):
    done = run_cli("run", "suites/smoke.toml", results=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "status" in done.stdout and done.stdout.count("completed") == 4
    client, runs = runs_of(tmp_path, "ganbench/smoke")
    real = [r for r in runs if r.data.tags.get("kind") == "real_data"]
    runs = [r for r in runs if r not in real]
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 4
    # One real-data run per dataset: held-out data scored like the cells, in the run table too.
    assert sorted(r.data.tags["dataset"] for r in real) == ["digits", "ring8"]
    ring = next(r for r in real if r.data.tags["dataset"] == "ring8").data.metrics
    assert ring["modes_covered"] == 8 and ring["high_quality_fraction"] > 0.95
    assert done.stdout.count("real data (held-out)") == 2
    for child in children:
        tags, params = child.data.tags, child.data.params
        assert child.info.status == "FINISHED" and tags["status"] == "completed"
        assert tags["mlflow.parentRunId"] == parents[0].info.run_id
        for key in (
            "suite",
            "variant",
            "dataset",
            "seed",
            "spec_hash",
            "git_commit",
            "device",
            "version.torch",
        ):
            assert key in tags, key
        assert params["variant.loss"] and params["spec_hash"] == tags["spec_hash"]
        history = client.get_metric_history(child.info.run_id, "loss_d")
        assert [m.step for m in history] == [1024, 2048]  # one point per tick, step = images seen
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"spec.json", "samples", "checkpoint"} <= artifacts
        samples = client.list_artifacts(child.info.run_id, "samples")
        assert len(samples) == 2 and all(s.path.endswith(".png") for s in samples)
        if tags["dataset"] == "ring8":
            assert {"modes_covered", "high_quality_fraction"} <= set(child.data.metrics)
            # the best checkpoint's scores are reported apart from the final ones
            assert {"best/modes_covered", "best/images_seen", "selection_score"} <= set(
                child.data.metrics
            )
            best = {a.path for a in client.list_artifacts(child.info.run_id, "checkpoint")}
            assert best == {"checkpoint/checkpoint.pt", "checkpoint/best.pt"}
    again = run_cli("run", "suites/smoke.toml", results=tmp_path)
    assert again.returncode == 0 and again.stdout.count("(skipped)") == 4
    _, runs_after = runs_of(tmp_path, "ganbench/smoke")
    # A re-run that trains nothing adds no run: no invocation parent, no second real-data row.
    assert len(runs_after) == len(runs) + len(real)


def test_a_diverging_cell_is_recorded_and_the_rest_complete(write_suite, tmp_path):
    variants = (
        '[[variants]]\npreset = "gan"\nwidth = 32\n\n'
        '[[variants]]\npreset = "gan"\nname = "exploding"\n'
        "g_opt = { lr = 1e3 }\nd_opt = { lr = 1e3 }\n"
    )
    path = write_suite(suite_text(name="boom", variants=variants, budget="kimg = 4\nticks = 2"))
    done = run_cli("run", path, results=tmp_path)
    assert done.returncode == 1
    assert "exploding" in done.stdout and "diverged" in done.stdout
    _, runs = runs_of(tmp_path, "ganbench/boom")
    by_variant = {r.data.tags["variant"]: r for r in runs if "variant" in r.data.tags}
    assert by_variant["gan"].data.tags["status"] == "completed"
    bad = by_variant["exploding"]
    assert bad.data.tags["status"] == "diverged" and bad.info.status == "FAILED"
    stats = ("loss_d", "loss_g", "d_real", "d_fake", "penalty")
    assert bad.data.tags["status_reason"].split()[0] in stats
    assert "at generator step" in bad.data.tags["status_reason"]


def test_sigkill_mid_cell_then_rerun_resumes_to_the_uninterrupted_result(write_suite, tmp_path):
    text = suite_text(
        name="resume",
        variants='[[variants]]\npreset = "gan"\nwidth = 32\n',
        budget="kimg = 30\nticks = 10",
        evaluation="num_samples = 500",
    )
    path = write_suite(text)
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    samples = kill_after_pictures(("run", path), killed, "runs/resume/*/samples", 3, timeout=120)
    run_dir = samples.parent
    assert json.loads((run_dir / "state.json").read_text())["status"] == "running"

    resumed = run_cli("run", path, results=killed)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at iteration" in resumed.stderr
    # The killed invocation's parent run was closed by this one; nothing is left RUNNING.
    _, runs = runs_of(killed, "ganbench/resume")
    parents = [r for r in runs if r.data.tags.get("kind") == "suite_invocation"]
    assert sorted(r.info.status for r in parents) == ["FINISHED", "KILLED"]
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert run_suite(load_suite(path), straight, device="cpu").ok  # the uninterrupted run

    def record(root):
        return json.loads((next(root.glob("runs/resume/*")) / "state.json").read_text())["record"]

    assert training_values(record(killed)) == training_values(record(straight))
    client_k, runs_k = runs_of(killed, "ganbench/resume")
    client_s, runs_s = runs_of(straight, "ganbench/resume")
    child_k = [r for r in runs_k if "mlflow.parentRunId" in r.data.tags]
    child_s = [r for r in runs_s if "mlflow.parentRunId" in r.data.tags]
    assert len(child_k) == 1 and child_k[0].data.tags["status"] == "completed"
    for key in ("loss_d", "loss_g", "modes_covered"):
        history_k = [
            (m.step, m.value) for m in client_k.get_metric_history(child_k[0].info.run_id, key)
        ]
        history_s = [
            (m.step, m.value) for m in client_s.get_metric_history(child_s[0].info.run_id, key)
        ]
        assert sorted(history_k) == sorted(history_s)  # no tick lost, none duplicated


@pytest.mark.parametrize(
    "args, expected",
    [
        (("ls", "variants"), "wgan_gp"),
        (("ls", "datasets"), "stacked_digits"),
        (("ls", "metrics"), "higher is better"),
        (("ls", "suites"), "quickstart"),
    ],
)
def test_ls_lists_registries_and_suites(args, expected):
    done = run_cli(*args)
    assert done.returncode == 0 and expected in done.stdout


def test_dry_run_prints_hashes_and_writes_nothing(tmp_path):
    done = run_cli(  # repeated --only filters combine as if joined with commas
        "run",
        "suites/quickstart.toml",
        "--dry-run",
        "--only",
        "dataset=ring8",
        "--only",
        "seed=0",
        results=tmp_path,
    )
    assert done.returncode == 0
    lines = [line for line in done.stdout.splitlines() if "seed=" in line]
    assert len(lines) == 5 and all(len(line.split()[0]) == 16 for line in lines)
    assert all("/ring8/seed=0" in line for line in lines)
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow  # starts an MLflow tracking server (about 20 s); `python -m pytest -m slow`
def test_on_a_tracking_server_ganbench_prints_no_mlflow_view_run_lines(tmp_path):
    server, url = start_mlflow_server(tmp_path)
    try:
        done = run_cli(
            "run",
            REPO / "suites" / "smoke.toml",
            "--only",
            "dataset=ring8",
            results=tmp_path / "results",
            env={"MLFLOW_TRACKING_URI": url},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "View run" not in done.stdout + done.stderr
        assert "completed" in done.stdout  # ganbench's own summary table is there
        runs = MlflowClient(url).search_runs(
            [MlflowClient(url).get_experiment_by_name("ganbench/smoke").experiment_id]
        )
        assert len(runs) >= 2  # the cells were tracked on the server
    finally:
        stop(server)
