"""Report build time over many runs: synthesise cell runs into a real MLflow SQLite store, then
time ``ganbench report`` (tables, CSV, HTML and every figure) on them.

Target: 2,000 runs in under a minute on 2 cores. Prints the time per 1,000 runs.

    python tests/benchmarks/bench_report_scale.py [--runs 2000] [--steps 10]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness import api  # noqa: E402

DATASETS = ("ring8", "grid25", "digits", "stacked_digits")


def synthesise(results: Path, runs: int, steps: int) -> None:
    """``runs`` completed cell runs of suite 'scale' (variants × 4 datasets × seeds), each with
    the tags a real cell has, final and best metrics, and a ``steps``-point metric history."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.create_experiment(
        "ganbench/scale", artifact_location=(results / "artifacts").resolve().as_uri()
    )
    seeds = 25
    variants = max(1, runs // (len(DATASETS) * seeds))
    rng = np.random.default_rng(0)
    now = int(time.time() * 1000)
    made = 0
    for v in range(variants):
        for dataset in DATASETS:
            image = dataset in ("digits", "stacked_digits")
            keys = (
                ["fid_2500_cls", "kid_2500_cls", "precision_2500_cls", "recall_2500_cls"]
                if image
                else ["energy_distance", "modes_covered", "high_quality_fraction"]
            )
            for seed in range(seeds):
                if made >= runs:
                    return
                tags = {
                    "suite": "scale",
                    "suite_version": "1",
                    "variant": f"variant{v:02d}",
                    "preset": "gan",
                    "dataset": dataset,
                    "seed": str(seed),
                    "spec_hash": f"{made:016x}",
                    "status": "completed",
                    "git_commit": "0" * 40,
                    "device": "cpu",
                    "torch_threads": "1",
                    "eval.extractor": "synthetic",
                    "eval.num_samples": "2500",
                }
                run = client.create_run(experiment, tags=tags, run_name=f"{v}/{dataset}/{seed}")
                metrics = []
                for step in range(1, steps + 1):
                    images = step * 10_000
                    for key in keys[:1]:
                        metrics.append(Metric(key, float(rng.random() * 10), now, images))
                final = steps * 10_000
                for key in keys:
                    value = float(rng.random())
                    metrics.append(Metric(key, value, now, final + 1))
                    metrics.append(Metric(f"best/{key}", value, now, final + 1))
                metrics += [
                    Metric("wall_seconds", float(rng.random() * 100), now, final),
                    Metric("images_seen", float(final), now, final),
                ]
                client.log_batch(
                    run.info.run_id, metrics=metrics, tags=[RunTag("mlflow.runName", "x")]
                )
                client.set_terminated(run.info.run_id)
                made += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        results = Path(work) / "results"
        results.mkdir()
        started = time.perf_counter()
        synthesise(results, args.runs, args.steps)
        print(f"synthesised {args.runs} runs in {time.perf_counter() - started:.1f} s")
        out, err = io.StringIO(), io.StringIO()
        started = time.perf_counter()
        code = api.report(
            experiment="ganbench/scale",
            results_dir=str(results),
            out_dir=str(Path(work) / "report"),
            out=out,
            err=err,
        )
        seconds = time.perf_counter() - started
        assert code == 0, err.getvalue()
        rows = sum(1 for _ in open(Path(work) / "report" / "leaderboard.csv")) - 1
    print(
        f"report over {args.runs} runs ({rows} leaderboard rows, figures included): {seconds:.1f} s"
    )
    print(f"time per 1,000 runs: {seconds / args.runs * 1000:.1f} s  (target: 2,000 runs < 60 s)")


if __name__ == "__main__":
    main()
