"""Chaos: kill `ganbench run` at random points, re-run, and check that nothing was harmed.

A small suite (ring8 GAN cells, one per seed) is first run once without interruption, as the
reference. Then, on a second results folder, `ganbench run` is started again and again and
killed with SIGKILL (its whole process group, workers included) at a random point: while the
MLflow store is being created (the first kill waits for the store's temporary file to appear),
then at random times over the length of an uninterrupted run. A last invocation runs to the
end. The invariants checked afterwards:

- every cell completed, with a final record and final weights bit-identical to the reference;
- one MLflow run per cell, every metric step logged once, every tick present;
- no run of the experiment left RUNNING;
- no stray temporary file and no held claim in any run directory, and the store opens.

Every fourth kill lands at a random time during start-up (imports, store, data); the others
wait until one or two more ticks are done (over all cells) and then a random part of a tick,
so they hit cells mid-training and the suite advances by about a tick or two per kill.

    python tests/benchmarks/chaos.py [--kills 20] [--cells 4] [--workers 1] [--seed 0]

Prints each kill and a verdict; exits 1 when an invariant is broken. A small version runs in
the default tests (tests/test_concurrency.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIMING_KEYS = ("wall_seconds", "sec_per_kimg", "eval_seconds", "eval_share")


def write_suite(folder: Path, cells: int, kimg: float, ticks: int) -> Path:
    seeds = ", ".join(str(seed) for seed in range(cells))
    path = folder / "chaos.toml"
    path.write_text(
        f'name = "chaos"\nversion = "1"\nseeds = [{seeds}]\n\n'
        '[[datasets]]\nname = "ring8"\nparams = { size = 2000, test_size = 500 }\n\n'
        '[[variants]]\npreset = "gan"\nwidth = 32\n\n'
        f"[budget]\nkimg = {kimg}\nticks = {ticks}\n\n"
        '[evaluation]\nmetrics = ["modes_covered", "high_quality_fraction"]\nnum_samples = 500\n'
    )
    return path


def _env(results: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",)}
    env["GANBENCH_RESULTS"] = str(results)
    return env


def start(suite: Path, results: Path, workers: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", str(suite), "--workers", str(workers)],
        cwd=REPO,
        env=_env(results),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the kill takes its workers too
    )


def kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def run_to_end(suite: Path, results: Path, workers: int) -> tuple[int, str, float, float]:
    """Exit code, stderr, seconds in all, and seconds before the first cell started."""
    began = time.perf_counter()
    process = start(suite, results, workers)
    startup = None
    while process.poll() is None and startup is None:
        if list((results / "runs").glob("chaos/*/state.json")):
            startup = time.perf_counter() - began
        time.sleep(0.02)
    _, err = process.communicate(timeout=1800)
    total = time.perf_counter() - began
    return process.returncode, err, total, startup or total


def _ticks_done(results: Path) -> int:
    """Ticks finished so far over all cells (each tick writes one sample picture)."""
    return len(list((results / "runs").glob("chaos/*/samples/*.png")))


def _cells(results: Path) -> dict[str, dict]:
    folder = results / "runs" / "chaos"
    return {
        d.name: json.loads((d / "state.json").read_text())
        for d in sorted(folder.iterdir())
        if (d / "state.json").exists()
    }


def check(reference: Path, results: Path, cells: int, ticks: int) -> list[str]:
    """The broken invariants (empty when all hold)."""
    import torch
    from mlflow import MlflowClient

    problems = []
    expected, got = _cells(reference), _cells(results)
    if set(got) != set(expected) or len(got) != cells:
        problems.append(f"cells: {sorted(got)} against {sorted(expected)}")
    for name, state in got.items():
        want = expected.get(name, {})
        if state.get("status") != "completed":
            problems.append(f"{name}: status {state.get('status')}")
            continue

        def values(record):
            return {k: v for k, v in record.items() if k not in TIMING_KEYS}

        if values(state["record"]) != values(want.get("record", {})):
            problems.append(f"{name}: final record differs from the uninterrupted run")
        a = torch.load(results / "runs/chaos" / name / "checkpoint.pt", weights_only=True)
        b = torch.load(reference / "runs/chaos" / name / "checkpoint.pt", weights_only=True)
        for key, tensor in b["recipe"]["generator"].items():
            if not torch.equal(tensor, a["recipe"]["generator"][key]):
                problems.append(f"{name}: generator weight {key} differs")
                break
        folder = results / "runs/chaos" / name
        stray = [p.name for p in folder.iterdir() if ".tmp" in p.name or p.name == "claim.json"]
        if stray:
            problems.append(f"{name}: left behind {stray}")

    client = MlflowClient(tracking_uri=f"sqlite:///{results.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ganbench/chaos")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    per_cell: dict[str, list] = {}
    for run in runs:
        if run.info.status == "RUNNING":
            problems.append(f"run {run.info.run_id} ({run.info.run_name}) left RUNNING")
        if "mlflow.parentRunId" in run.data.tags:
            per_cell.setdefault(run.data.tags["spec_hash"], []).append(run)
    for name in got:
        found = per_cell.get(name, [])
        if len(found) != 1:
            problems.append(f"{name}: {len(found)} MLflow runs (one expected)")
            continue
        steps = [m.step for m in client.get_metric_history(found[0].info.run_id, "loss_d")]
        if len(steps) != len(set(steps)) or len(steps) != ticks:
            problems.append(f"{name}: loss_d logged at steps {steps} ({ticks} ticks expected)")
    return problems


def chaos(
    workdir: Path,
    kills: int,
    cells: int,
    workers: int,
    seed: int,
    out=sys.stdout,
    kimg: float = 4.0,
    ticks: int = 8,
):
    """Run the experiment; return the broken invariants."""
    rng = random.Random(seed)
    suite = write_suite(workdir, cells, kimg, ticks)
    reference, results = workdir / "reference", workdir / "chaos"
    code, err, full, startup = run_to_end(suite, reference, workers)
    if code != 0:
        return [f"the uninterrupted run failed ({code}): {err[-2000:]}"]
    print(f"uninterrupted run: {full:.1f} s, {startup:.1f} s before training", file=out)
    tick_s = (full - startup) / (cells * ticks)  # about one tick of one cell
    for number in range(1, kills + 1):
        process = start(suite, results, workers)
        if number == 1:  # in the first second of the store: wait for it to be made
            deadline = time.time() + 120
            while time.time() < deadline and process.poll() is None:
                if list(results.glob(".mlflow.db.creating-*")):
                    break
                time.sleep(0.005)
            point = "while the store is created"
        elif number % 4 == 0:  # during start-up: imports, store, data, the first cell's setup
            delay = rng.uniform(0.0, startup / 2)  # a re-run starts faster than the first
            time.sleep(delay)
            point = f"after {delay:.2f} s (start-up)"
        else:  # mid-training: one or two ticks into this invocation, then part of a tick
            target = _ticks_done(results) + rng.randint(1, 2)
            deadline = time.time() + 600
            while process.poll() is None and time.time() < deadline:
                if _ticks_done(results) >= target:
                    break
                time.sleep(0.01)
            extra = rng.uniform(0.0, tick_s)
            time.sleep(extra)
            point = f"{target} ticks done + {extra:.2f} s"
        finished = process.poll() is not None
        kill(process)
        done = (
            sum(s.get("status") == "completed" for s in _cells(results).values())
            if (results / "runs" / "chaos").is_dir()
            else 0
        )
        state = "had already finished" if finished else "killed"
        print(
            f"kill {number:>2}: {point}: {state}; {done}/{cells} cells done", file=out, flush=True
        )
    code, err, _, _ = run_to_end(suite, results, workers)
    problems = [] if code == 0 else [f"the last invocation exited {code}: {err[-2000:]}"]
    if "Traceback" in err:
        problems.append(f"a traceback in the last invocation: {err[-2000:]}")
    return problems + check(reference, results, cells, ticks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--cells", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ganbench-chaos-") as folder:
        problems = chaos(Path(folder), args.kills, args.cells, args.workers, args.seed)
    for problem in problems:
        print(f"BROKEN: {problem}")
    print("chaos: every invariant held" if not problems else f"chaos: {len(problems)} broken")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
