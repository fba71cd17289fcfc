"""Pruning vs no pruning: the same study (same sampler seed, same trials) run both ways in one
run; prints the ratio of images trained and the two best objective values, with the seed noise
of the objective measured on the unpruned study's best configuration.

Target: pruning spends at most half the images for a best value within seed noise.

    python tests/benchmarks/bench_study_pruning.py [--suite suites/study-ring8.toml]
        [--trials 20] [--noise-seeds 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.config import PrunerSpec, load_suite  # noqa: E402
from harness.study import (  # noqa: E402
    objective_key,
    optuna_study,
    run_study,
    trial_suite,
)


def run(suite, suite_path: str, results: Path) -> dict:
    log = io.StringIO()
    started = time.perf_counter()
    run_study(suite, suite_path, results, f"sqlite:///{results / 'optuna.db'}", 1, "cpu", log)
    seconds = time.perf_counter() - started
    study = optuna_study(suite, f"sqlite:///{results / 'optuna.db'}")
    trials = study.get_trials(deepcopy=False)
    return {
        "images": sum(t.user_attrs.get("images_trained", 0) for t in trials),
        "best": study.best_value,
        "best_params": study.best_params,
        "pruned": sum(t.state.name == "PRUNED" for t in trials),
        "failed": sum(t.state.name == "FAIL" for t in trials),
        "seconds": seconds,
    }


def seed_noise(suite, params: dict, seeds: list[int], results: Path) -> list[float]:
    """The objective of one configuration over several seeds, through the benchmark runner."""
    from harness.runner import run_suite

    reduced = trial_suite(suite, params, seeds).model_copy(update={"name": "noise"})
    outcome = run_suite(reduced, results, "cpu", stream=io.StringIO())
    key = objective_key(suite)
    return [r.record[key] for r in outcome.results if r.status == "completed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/study-ring8.toml")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--noise-seeds", type=int, default=5)
    args = parser.parse_args()
    base = load_suite(args.suite)
    base = base.model_copy(update={"study": base.study.model_copy(update={"trials": args.trials})})
    unpruned_suite = base.model_copy(
        update={"study": base.study.model_copy(update={"pruner": PrunerSpec(name="none")})}
    )
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        pruned = run(base, args.suite, work / "pruned")
        unpruned = run(unpruned_suite, args.suite, work / "unpruned")
        noise = seed_noise(
            base, unpruned["best_params"], list(range(1, args.noise_seeds + 1)), work / "noise"
        )
    std = statistics.stdev(noise) if len(noise) > 1 else float("nan")
    key = objective_key(base)
    print(
        f"study {base.study.name or base.name}: {args.trials} trials, sampler "
        f"{base.study.sampler.name} seed {base.study.sampler.seed}, objective {key}"
    )
    for label, result in (
        ("pruned (" + base.study.pruner.name + ")", pruned),
        ("no pruning", unpruned),
    ):
        print(
            f"  {label:<16} images trained {result['images']:>10,}  best {key} "
            f"{result['best']:.5g}  pruned trials {result['pruned']:>2}  failed "
            f"{result['failed']:>2}  {result['seconds']:.1f} s"
        )
    ratio = pruned["images"] / unpruned["images"]
    gap = pruned["best"] - unpruned["best"]
    print(
        f"seed noise: {key} of the unpruned best configuration over seeds "
        f"1..{args.noise_seeds}: mean {statistics.fmean(noise):.5g}, std {std:.4g}"
    )
    print(f"ratio of images trained (pruned / unpruned): {ratio:.3f}  (target <= 0.5)")
    print(
        f"best-value gap (pruned - unpruned): {gap:+.4g} = {gap / std:+.2f} seed std "
        "(target: within seed noise, |gap| <= 1 std, or pruned better)"
    )


if __name__ == "__main__":
    main()
