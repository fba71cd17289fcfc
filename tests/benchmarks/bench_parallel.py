"""Parallel efficiency of `--workers N` on equal cells, measured side by side in one run.

One suite of equal cells (the same preset and dataset, one cell per seed) is run twice from the
command line on fresh results folders: in-process, then with ``--workers N``. Efficiency is
``T_in_process / (N × T_workers)`` (1.0: N workers are N times as fast). Both runs must give
the same records bit for bit (checked). The target is at least 0.9 on N idle cores.

    python tests/benchmarks/bench_parallel.py [--workers 2] [--cells 4] [--preset dcgan]
        [--dataset digits] [--kimg 100]

The default cells are the nightly suite's (100 kimg each). Start-up (imports, the store, the
real-data row; each worker's own imports, dataset, classifier and reference features) is a
fixed cost per invocation and per worker, so short cells understate the efficiency a nightly
run gets; the second line of output separates it from the cells' own time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIMING = ("wall_seconds", "sec_per_kimg", "eval_seconds", "eval_share")


def run(suite: Path, results: Path, workers: int, *only: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["GANBENCH_RESULTS"] = str(results)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(suite), "--workers", str(workers), *only],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"ganbench run --workers {workers} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - began


def records(results: Path) -> dict:
    out = {}
    for state in sorted((results / "runs").glob("*/*/state.json")):
        record = json.loads(state.read_text())["record"]
        out[state.parent.name] = {k: v for k, v in record.items() if k not in TIMING}
    return out


def cell_seconds(results: Path) -> float:
    """The cells' own wall time, summed (what the invocation spent outside its start-up)."""
    return sum(
        json.loads(state.read_text())["record"]["wall_seconds"]
        for state in (results / "runs").glob("*/*/state.json")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cells", type=int, default=4)
    parser.add_argument("--preset", default="dcgan")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--kimg", type=float, default=100)  # the nightly budget
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ganbench-parallel-") as folder:
        folder = Path(folder)
        suite = folder / "equal.toml"
        seeds = ", ".join(str(seed) for seed in range(args.cells))
        suite.write_text(
            f'name = "equal"\nversion = "1"\nseeds = [{seeds}]\n\n'
            f'[[datasets]]\nname = "{args.dataset}"\n\n'
            f'[[variants]]\npreset = "{args.preset}"\n\n'
            f"[budget]\nkimg = {args.kimg}\nticks = 4\n\n"
            '[evaluation]\nmetrics = ["fid", "modes_covered"]\nnum_samples = 1000\n'
        )
        # A first run fills the shared cache (classifier, reference features) for both.
        cache = folder / "cache"
        os.environ["GANBENCH_CACHE"] = str(cache)
        run(suite, folder / "warm", 1, "--only", "seed=0")
        serial = run(suite, folder / "serial", 1)
        parallel = run(suite, folder / "parallel", args.workers)
        same = records(folder / "serial") == records(folder / "parallel")
        cells_serial = cell_seconds(folder / "serial")
        cells_parallel = cell_seconds(folder / "parallel")
    efficiency = serial / (args.workers * parallel)
    print(
        f"{args.cells} equal cells ({args.preset} on {args.dataset}, {args.kimg:g} kimg): "
        f"in-process {serial:.1f} s, {args.workers} workers {parallel:.1f} s; "
        f"parallel efficiency {efficiency:.2f} (target >= 0.9); records identical: {same}"
    )
    print(
        f"cells' own time, summed: in-process {cells_serial:.1f} s, {args.workers} workers "
        f"{cells_parallel:.1f} s (each cell {cells_parallel / cells_serial:.2f}x as long side by "
        f"side); start-up and hand-over outside the cells: in-process "
        f"{serial - cells_serial:.1f} s, {args.workers} workers "
        f"{parallel - cells_parallel / args.workers:.1f} s"
    )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
