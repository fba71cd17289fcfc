"""Shared helpers: suites written on the fly, cells built from presets, the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """One classifier/reference cache for the whole session (the CLI subprocesses included),
    so the digits classifier is trained once per test run."""
    if "GANBENCH_CACHE" not in os.environ:
        import tempfile

        os.environ["GANBENCH_CACHE"] = tempfile.mkdtemp(prefix="ganbench-cache-")


TIMING_KEYS = {"wall_seconds", "sec_per_kimg", "eval_seconds"}


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


def training_values(record: dict) -> dict:
    """A tick record without its wall-clock timings: what must be bit-identical."""
    return {k: v for k, v in record.items() if k not in TIMING_KEYS}
