"""Shared helpers: suites written on the fly, cells built from presets, the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


_OWN_CACHE: list[str] = []


def pytest_configure(config):
    """One classifier/reference cache for the whole session (the CLI subprocesses and xdist
    workers inherit it), so the digits classifier is trained once per test run."""
    if "GANBENCH_CACHE" not in os.environ:
        import tempfile

        os.environ["GANBENCH_CACHE"] = tempfile.mkdtemp(prefix="ganbench-cache-")
        _OWN_CACHE.append(os.environ["GANBENCH_CACHE"])


def pytest_unconfigure(config):
    """The process that made the session cache removes it (about 250 MB per run otherwise)."""
    import shutil

    for path in _OWN_CACHE:
        shutil.rmtree(path, ignore_errors=True)
        os.environ.pop("GANBENCH_CACHE", None)
    _OWN_CACHE.clear()


TIMING_KEYS = {"wall_seconds", "sec_per_kimg", "eval_seconds", "eval_share"}


def _repository_status() -> set[str]:
    """Paths ``git status`` reports in the checkout, untracked and ignored ones included."""
    out = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:  # not a git checkout (an sdist): nothing to compare
        return set()
    noise = ("__pycache__", ".pytest_cache", ".ruff_cache", ".egg-info")
    # New files only (untracked or ignored): edits to tracked files are the developer's.
    return {
        line
        for line in out.stdout.splitlines()
        if line[:2] in ("??", "!!") and not any(n in line for n in noise)
    }


@pytest.fixture(scope="session", autouse=True)
def repository_stays_clean():
    """Fail the run when a test leaves files in the checkout (a store, a report, a checkpoint)."""
    before = _repository_status()
    yield
    added = sorted(_repository_status() - before)
    assert not added, "the test run wrote into the repository: " + "; ".join(added[:10])


@pytest.fixture(autouse=True)
def isolated_tracking(tmp_path, monkeypatch):
    """Every test runs in its own folder with no tracking URI or results root inherited from
    the shell, so nothing a test does can land in the repository or a user's store."""
    for name in ("MLFLOW_TRACKING_URI", "GANBENCH_RESULTS", "OPTUNA_STORAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def suite_text(
    name: str = "t",
    datasets: str = '[[datasets]]\nname = "ring8"\nparams = { size = 2000, test_size = 500 }\n',
    variants: str = '[[variants]]\npreset = "gan"\nwidth = 32\n',
    seeds: str = "[0]",
    budget: str = "kimg = 1\nticks = 2",
    evaluation: str = "num_samples = 500",
) -> str:
    return (
        f'name = "{name}"\nversion = "1"\nseeds = {seeds}\n\n{datasets}\n{variants}\n'
        f"[budget]\n{budget}\n\n[evaluation]\n{evaluation}\n"
    )


@pytest.fixture
def write_suite(tmp_path):
    """Write a suite TOML into the test's folder and return its path."""

    def write(text: str, filename: str = "suite.toml") -> Path:
        path = tmp_path / filename
        path.write_text(textwrap.dedent(text))
        return path

    return write


def make_cell(preset: str, dataset: str = "ring8", params: dict | None = None, **axes):
    """A resolved RunSpec for one preset on one dataset, built through the real config path."""
    from harness.config import SuiteSpec, expand

    seed = axes.pop("seed", 0)
    budget = axes.pop("budget", {"kimg": 1, "ticks": 1})
    evaluation = axes.pop("evaluation", {"num_samples": 200})
    if "metrics" not in evaluation:
        evaluation = {**evaluation, "metrics": []}
    suite = SuiteSpec(
        name="cell",
        datasets=[{"name": dataset, "params": params or {}}],
        variants=[{"preset": preset, **axes}],
        seeds=[seed],
        budget=budget,
        evaluation=evaluation,
    )
    return expand(suite)[0]


def clean_env(results: Path | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GANBENCH_RESULTS")
    }
    if results is not None:
        env["GANBENCH_RESULTS"] = str(results)
    return env


def run_cli(*args, results: Path | None = None, cwd: Path = REPO, timeout: int = 300, env=None):
    """``python -m harness ARGS`` in a subprocess, with a clean tracking environment
    (plus ``env`` overrides)."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean_env(results), **(env or {})},
        timeout=timeout,
    )


def spawn_cli(*args, results: Path, ignore_sigint: bool = False):
    """``python -m harness ARGS`` in the background, in its own process group (to be killed);
    with ``ignore_sigint``, started as nohup or a script's ``&`` start it (SIGINT ignored,
    inherited by what it spawns)."""
    import signal

    return subprocess.Popen(
        [sys.executable, "-m", "harness", *map(str, args)],
        cwd=REPO,
        env=clean_env(results),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if ignore_sigint
        else None,
    )


def kill_after_pictures(args, results: Path, pattern: str, pictures: int, timeout: float = 300):
    """``ganbench ARGS`` in the background, SIGKILLed once its cell's samples folder (the
    glob ``pattern`` under ``results``) holds ``pictures`` sample pictures (images, or the
    text of sequences); returns that folder. Fails if the run ends first."""
    import signal
    import time

    process = spawn_cli(*args, results=results)
    try:
        deadline, samples = time.time() + timeout, None
        while time.time() < deadline and process.poll() is None:
            samples = next(results.glob(pattern), None)
            if samples is not None and len(list(samples.glob("tick_*"))) >= pictures:
                break
            time.sleep(0.01)
        assert process.poll() is None, "the run finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    return samples


def final_cell(results: Path, pattern: str) -> tuple[dict, dict]:
    """The last tick record and the recipe's checkpointed state of the one cell whose
    ``state.json`` matches the glob ``pattern`` under ``results``."""
    import json

    import torch

    cell = next(results.glob(pattern)).parent
    record = json.loads((cell / "state.json").read_text())["record"]
    return record, torch.load(cell / "checkpoint.pt", weights_only=True)["recipe"]


def training_values(record: dict) -> dict:
    """A tick record without its wall-clock timings: what must be bit-identical."""
    return {k: v for k, v in record.items() if k not in TIMING_KEYS}


def write_mnist(root: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """Random MNIST-shaped data in the real idx-ubyte files torchvision's MNIST loader reads."""
    import struct

    import numpy as np

    def write_idx(path, array, magic):
        with open(path, "wb") as handle:
            handle.write(
                struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
            )
            handle.write(array.astype(np.uint8).tobytes())

    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), 2051)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, (n,)), 2049)


def save_pngs(images_uint8, folder: Path) -> None:
    """Write N×3×H×W uint8 images as numbered PNG files (the order torch-fidelity reads)."""
    from PIL import Image

    Path(folder).mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images_uint8):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(Path(folder) / f"{index:06d}.png")


def fidelity_on_folders(generated_dir, real_dir, bridge, n_generated: int, n_real: int, **extra):
    """torch_fidelity.calculate_metrics on two PNG folders with the harness's extractor and
    settings: the file route the in-memory evaluator is compared with."""
    import torch_fidelity

    from harness.evaluate.fidelity import FIDELITY_KWARGS
    from harness.evaluate.image_metrics import kid_subset_size

    return torch_fidelity.calculate_metrics(
        input1=str(generated_dir),
        input2=str(real_dir),
        isc=True,
        fid=True,
        kid=True,
        prc=True,
        cuda=False,
        batch_size=500,
        feature_extractor=bridge.name,
        feature_extractor_weights_path=bridge.weights_path,
        kid_subset_size=kid_subset_size(n_generated, n_real),
        **{**FIDELITY_KWARGS, **extra},
    )


def start_mlflow_server(folder: Path, port: int | None = None):
    """A real ``mlflow server`` on 127.0.0.1 with its store in ``folder``, up and answering;
    returns (process, url). Stop it with ``stop(process)``."""
    import socket
    import time
    import urllib.request

    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{folder / 'server.db'}",
            "--default-artifact-root",
            (folder / "server-artifacts").as_uri(),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)
            return server, url
        except OSError:
            time.sleep(0.5)
    stop(server)
    pytest.fail("the MLflow server did not start")


def stop(process) -> None:
    """End a process started in its own session, and everything it started."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
