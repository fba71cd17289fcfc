"""Hyperparameter studies against the real Optuna storages and the real MLflow SQLite store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import run_cli, spawn_cli

RING = '[[datasets]]\nname = "ring8"\nparams = { size = 2000, test_size = 500 }\n'


def study_suite(
    trials: int = 6,
    sampler: str = 'name = "tpe"\nseed = 0',
    pruner: str = 'name = "median"\nstartup_trials = 2\nwarmup_ticks = 1',
    extra: str = "",
    space: str | None = None,
    budget: str = "kimg = 1\nticks = 2",
    name: str = "st",
) -> str:
    space = space or (
        '"g_opt.lr" = { type = "float", low = 1e-4, high = 1e-2, log = true }\n'
        'd_steps = { type = "int", low = 1, high = 3 }\n'
        'loss = { type = "categorical", choices = ["nonsaturating", "hinge"] }\n'
    )
    return (
        f'name = "{name}"\nversion = "1"\nseeds = [0]\n\n{RING}\n'
        '[[variants]]\npreset = "gan"\nwidth = 16\n\n'
        f"[budget]\n{budget}\n\n"
        '[evaluation]\nmetrics = ["energy_distance", "modes_covered"]\nnum_samples = 300\n\n'
        f'[study]\nobjective = "energy_distance"\ntrials = {trials}\n{extra}\n'
        f"[study.sampler]\n{sampler}\n\n[study.pruner]\n{pruner}\n\n[study.space]\n{space}"
    )


def optuna_trials(results: Path, name: str = "st"):
    import optuna

    storage = f"sqlite:///{results / 'optuna.db'}"
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def mlflow_runs(results: Path, experiment: str = "ganbench/st"):
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], max_results=5000)


def wait_for_a_checkpoint(process, results: Path, trial: int, timeout: float = 240) -> None:
    """Return once ``trial`` has written a checkpoint and is still running (fails if it never
    does, killing ``process``)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        checkpoints = list(
            (results / "studies" / "st" / "trials" / f"{trial:04d}").glob("*/checkpoint.pt")
        )
        if checkpoints:
            state = json.loads((checkpoints[0].parent / "state.json").read_text() or "{}")
            if state.get("status") == "running":
                return
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"trial {trial} never started")


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            '"g_opt.lr" = { type = "float", low = 0.1, high = 0.01 }',
            "study.space.g_opt.lr: low (0.1) is above high (0.01)",
        ),
        (
            'g_lr = { type = "float", low = 0.1, high = 0.2 }',
            "study.space.g_lr: names no hyperparameter of a variant; allowed:",
        ),
        (
            'loss = { type = "categorical", choices = [] }',
            "study.space.loss: a categorical parameter needs a non-empty 'choices' list",
        ),
        (
            'loss = { type = "categorical", choices = ["hinge", "hing"] }',
            "study.space.loss: value 'hing' is not allowed",
        ),
        (
            'd_steps = { type = "float", low = 1, high = 3 }',
            'study.space.d_steps: is a int axis; use type = "int" or "categorical"',
        ),
        (
            'ema = { type = "float", low = 0.5, high = 1.5 }',
            "study.space.ema: value 1.5 is not allowed",
        ),
        (
            '"g_opt.lr" = { type = "float", low = 0, high = 0.1, log = true }',
            "a log-scale range needs low > 0",
        ),
    ],
)
def test_a_bad_search_space_is_rejected_before_any_trial(tmp_path, space, message):
    suite = tmp_path / "bad.toml"
    suite.write_text(study_suite(space=space))
    for command in ("validate", "study"):
        result = run_cli(command, suite, results=tmp_path / "results")
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {suite}: "), result.stderr
        assert message in lines[0]
    assert not (tmp_path / "results" / "optuna.db").exists()


def test_an_objective_the_dataset_does_not_compute_is_rejected(tmp_path):
    suite = tmp_path / "bad.toml"
    suite.write_text(study_suite().replace('objective = "energy_distance"', 'objective = "fid"'))
    result = run_cli("study", suite, results=tmp_path / "results")
    assert result.returncode == 2
    assert "study.objective: 'fid' is not computed on dataset 'ring8'" in result.stderr


def test_two_workers_finish_exactly_twenty_trials_with_one_parent_run(tmp_path):
    suite = tmp_path / "st.toml"
    suite.write_text(study_suite(trials=20, budget="kimg = 0.5\nticks = 2"))
    results = tmp_path / "results"
    result = run_cli("study", suite, "--workers", "2", results=results, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "error" not in result.stderr.lower() and "locked" not in result.stderr.lower()
    assert "warning" not in result.stderr.lower()  # e.g. runpy's on a twice-imported worker
    from optuna.trial import TrialState

    trials = optuna_trials(results)
    assert len(trials) == 20
    finished = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    assert all(t.state in finished for t in trials)
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}  # both workers took trials
    runs = mlflow_runs(results)
    parents = [r for r in runs if r.data.tags.get("kind") == "study"]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == 20
    assert sorted(int(r.data.tags["trial"]) for r in children) == list(range(20))
    for child in children:  # same tag schema as benchmark runs, plus the trial's own
        for tag in ("suite", "variant", "dataset", "status", "git_commit", "study", "trial"):
            assert tag in child.data.tags
    assert parents[0].data.tags["trials.finished"] == "20"
    for artifact in ("best.toml", "trials.csv", "optimization_history.png"):
        assert (results / "studies" / "st" / artifact).exists()


def test_a_continued_study_draws_new_parameters_and_matches_one_run_to_its_size(tmp_path):
    """A re-run continues the study: its trials must not replay the first command's draws
    (one sampler per process seeded alike did), and 3 + 3 trials are the 6 of one command."""
    sampler = 'name = "random"\nseed = 0'
    budget = "kimg = 0.2\nticks = 1"
    suite = tmp_path / "st.toml"
    params = {}
    for results, sizes in (("split", (3, 6)), ("whole", (6,))):
        for size in sizes:
            suite.write_text(study_suite(trials=size, sampler=sampler, budget=budget))
            result = run_cli("study", suite, results=tmp_path / results, timeout=300)
            assert result.returncode == 0, result.stderr[-3000:]
        params[results] = [t.params for t in optuna_trials(tmp_path / results)]
    assert len(params["split"]) == 6
    assert len({json.dumps(p, sort_keys=True) for p in params["split"]}) == 6
    assert params["split"] == params["whole"]


@pytest.mark.slow  # runs a study twice (about a minute); `python -m pytest -m slow` runs it
def test_same_sampler_seed_proposes_the_same_sequence_and_best_reproduces(tmp_path):
    sequences, bests = [], []
    for attempt in range(2):
        suite = tmp_path / f"st{attempt}.toml"
        suite.write_text(study_suite(trials=12, budget="kimg = 0.5\nticks = 2"))
        results = tmp_path / f"results{attempt}"
        result = run_cli("study", suite, results=results, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        trials = optuna_trials(results)
        sequences.append([t.params for t in trials])
        bests.append(json.loads((results / "studies" / "st" / "best.json").read_text()))
    assert len(sequences[0]) == 12 and sequences[0] == sequences[1]
    assert len({json.dumps(p, sort_keys=True) for p in sequences[0]}) > 6  # it did search
    assert bests[0] == {**bests[1], "mlflow_run_id": bests[0]["mlflow_run_id"]}

    # The exported best configuration is a suite that validates and reproduces the score.
    exported = tmp_path / "results0" / "studies" / "st" / "best.toml"
    assert run_cli("validate", exported).returncode == 0
    rerun = run_cli("run", exported, results=tmp_path / "rerun", timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    state = next((tmp_path / "rerun" / "runs").glob("*/*/state.json"))
    record = json.loads(state.read_text())["record"]
    assert record["energy_distance"] == bests[0]["value"]


def test_a_killed_worker_is_retried_and_the_study_reaches_its_size(tmp_path):
    suite = tmp_path / "st.toml"
    suite.write_text(
        study_suite(trials=5, extra="heartbeat_seconds = 1", budget="kimg = 4\nticks = 8")
    )
    results = tmp_path / "results"
    process = spawn_cli("study", suite, results=results)
    wait_for_a_checkpoint(process, results, trial=1)  # then kill it while it runs
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    result = run_cli("study", suite, results=results, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    from optuna.trial import TrialState

    trials = optuna_trials(results)
    killed = trials[1]
    assert killed.state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == 1]
    assert len(retries) == 1 and retries[0].params == killed.params
    assert retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    counted = [t for t in trials if t.number != 1]
    assert len(counted) == 5  # the study's size, the killed trial accounted for by its retry
    assert "resuming" in result.stderr or retries[0].user_attrs.get("resumed") is True
    runs = mlflow_runs(results)
    trial_runs = [r for r in runs if r.data.tags.get("kind") == "study_trial"]
    # One MLflow run per trial of the study: the retry continued the killed trial's run.
    expected = sorted({t.number for t in counted if t not in retries} | {1})
    assert sorted(int(r.data.tags["trial"]) for r in trial_runs) == expected
    assert len(expected) == 5


@pytest.mark.parametrize("workers", [1, 2])
def test_a_study_stopped_by_sigterm_resumes_its_interrupted_trial_on_re_run(tmp_path, workers):
    """SIGTERM fails the running trial; it must be queued again (not counted as a failure of
    the study's size), and the re-run resumes it from its checkpoint with its parameters.
    Started as nohup starts it, SIGINT ignored: with 2 workers that ignored SIGINT too, the
    study command once forwarded its stop as SIGINT and waited on them for ever."""
    suite = tmp_path / "st.toml"
    suite.write_text(study_suite(trials=2, budget="kimg = 4\nticks = 8"))
    results = tmp_path / "results"
    process = spawn_cli("study", suite, "--workers", workers, results=results, ignore_sigint=True)
    wait_for_a_checkpoint(process, results, trial=0)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) != 0
    from optuna.trial import TrialState

    trials = optuna_trials(results)
    assert trials[0].state == TrialState.FAIL
    queued = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(queued) == 1 and queued[0].state == TrialState.WAITING

    result = run_cli("study", suite, results=results, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = optuna_trials(results)
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == 0)
    assert retry.state == TrialState.COMPLETE and retry.params == trials[0].params
    # Resumed from its checkpoint, or (when the stop came after its training had ended, in
    # the trial's bookkeeping) the finished cell taken as it is: never trained again.
    assert retry.user_attrs.get("resumed") is True or retry.user_attrs["seconds"] < 1
    retried = {t.system_attrs["failed_trial"] for t in trials if "failed_trial" in t.system_attrs}
    assert {t.number for t in trials if t.state == TrialState.FAIL} == retried  # all stopped ones
    counted = [t for t in trials if t.number not in retried]
    assert len(counted) == 2  # each retry took its stopped trial's place
    assert all(t.state == TrialState.COMPLETE for t in counted)


def test_the_compare_gan_protocol_runs_wide_narrow_then_top_k_over_seeds(tmp_path):
    suite = tmp_path / "st.toml"
    protocol = (
        "\n[study.protocol]\nnarrow_trials = 3\nnarrow_from = 2\ntop_k = 2\nfinal_seeds = [0, 1]\n"
    )
    text = study_suite(trials=4, budget="kimg = 0.5\nticks = 2", pruner='name = "none"')
    suite.write_text(text + protocol)
    results = tmp_path / "results"
    result = run_cli("study", suite, results=results, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    wide = optuna_trials(results)
    narrow = optuna_trials(results, "st-narrow")
    assert len(wide) == 4 and len(narrow) == 3
    best_two = sorted((t for t in wide if t.value is not None), key=lambda t: t.value)[:2]
    low = min(t.params["g_opt.lr"] for t in best_two)
    high = max(t.params["g_opt.lr"] for t in best_two)
    assert all(low <= t.params["g_opt.lr"] <= high for t in narrow)
    final = json.loads((results / "studies" / "st" / "final.json").read_text())
    assert len(final["rows"]) == 2 and all(row["n"] == 2 for row in final["rows"])
    for row in final["rows"]:
        assert row["mean"] == pytest.approx(sum(row["values"]) / 2)


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres(tmp_path):
    """A throwaway PostgreSQL server on 127.0.0.1, run as the 'postgres' user under root."""
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.skip("psycopg2 is not installed (pip install -e '.[postgres]')")
    # Outside pytest's private temp tree, which the 'postgres' user cannot enter.
    home = Path(tempfile.mkdtemp(prefix="ganbench-pg-"))
    home.chmod(0o755)
    data = home / "pgdata"
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        prefix = ["runuser", "-u", "postgres", "--"]
        data.mkdir()
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(
        [*prefix, str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            *prefix,
            str(binaries / "postgres"),
            "-D",
            str(data),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-k",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    deadline = time.time() + 30
    while True:
        try:
            with engine.connect():
                break
        except sqlalchemy.exc.OperationalError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                pytest.skip("the PostgreSQL server did not start")
            time.sleep(0.2)
    engine.dispose()
    yield url
    server.terminate()
    server.wait(timeout=30)
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow  # ~35 s; the SQLite two-worker study test runs by default
def test_two_workers_on_a_real_postgresql_server(tmp_path, postgres):
    suite = tmp_path / "st.toml"
    suite.write_text(study_suite(trials=6, budget="kimg = 0.5\nticks = 2"))
    results = tmp_path / "results"
    result = run_cli(
        "study", suite, "--workers", "2", "--storage", postgres, results=results, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import optuna

    trials = optuna.load_study(study_name="st", storage=postgres).get_trials()
    assert len(trials) == 6 and all(t.state.is_finished() for t in trials)
    assert not (results / "optuna.db").exists()  # nothing went to the default storage
    parent = [r for r in mlflow_runs(results) if r.data.tags.get("kind") == "study"][0]
    assert (
        "optuna_storage" in parent.data.tags
        and ":" not in parent.data.tags["optuna_storage"].split("@")[0].split("//")[1]
    )
