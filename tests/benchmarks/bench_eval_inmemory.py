"""In-memory evaluation vs the file round trip, side by side in one run, at equal sample counts.

(a) the usual route: write the generated samples to PNG files, then run
    ``torch_fidelity.calculate_metrics`` on the folder (IS, FID, KID, precision/recall)
    against the real images' folder with its features cached by torch-fidelity;
(b) the harness's route: ``Evaluator.evaluate`` straight from the generator in memory, with
    reference features from the harness cache.

Both use the same digits classifier extractor; the ratio (a)/(b) of median times is printed
(target: at least 2). Every repeat also checks the two routes give the same FID, precision and
recall. On CPU, route (b) gains twice: no PNG encode/decode or DataLoader, and precision/recall
reuse the real samples' cached k-NN radii and select them with topk (the same values as
torch-fidelity's kthvalue, pinned by tests/test_fidelity.py).

    python tests/benchmarks/bench_eval_inmemory.py [--samples 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import fidelity_on_folders, make_cell, save_pngs  # noqa: E402

from harness.data import load_dataset  # noqa: E402
from harness.evaluate.evaluator import Evaluator  # noqa: E402
from harness.evaluate.fidelity import to_uint8_rgb  # noqa: E402
from harness.recipes.base import Sampler  # noqa: E402
from harness.variants import ARCHITECTURES  # noqa: E402

METRICS = ["is", "fid", "kid", "precision", "recall"]


def file_route(evaluator, generator, cell, real_dir: Path, cache_root: Path) -> tuple[float, float]:

    bridge = evaluator.bridge
    start = time.perf_counter()
    samples, _ = evaluator.generate(Sampler(generator, cell.variant.latent_dim, False))
    with tempfile.TemporaryDirectory() as folder:
        save_pngs(to_uint8_rgb(samples), Path(folder))
        n_real = len(list(real_dir.iterdir()))
        scores = fidelity_on_folders(
            folder,
            real_dir,
            bridge,
            len(samples),
            n_real,
            cache_root=str(cache_root),
            input2_cache_name="bench-real",
        )
    elapsed = time.perf_counter() - start
    return elapsed, [scores[k] for k in ("frechet_inception_distance", "precision", "recall")]


def memory_route(evaluator, generator, cell) -> tuple[float, float]:
    start = time.perf_counter()
    scores = evaluator.evaluate(Sampler(generator, cell.variant.latent_dim, False))
    elapsed = time.perf_counter() - start
    return elapsed, [
        next(v for k, v in scores.items() if k.startswith(prefix))
        for prefix in ("fid_", "precision_", "recall_")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        cell = make_cell(
            "dcgan",
            "stacked_digits",
            {"size": args.samples},
            evaluation={"num_samples": args.samples, "metrics": METRICS},
        )
        data = load_dataset(cell.dataset, cell.dataset_params)
        evaluator = Evaluator(
            cell.evaluation, data, torch.device("cpu"), work / "cache", cell.dataset_params
        )
        torch.manual_seed(0)
        generator, _ = ARCHITECTURES.get(cell.variant.architecture)(cell.variant, data.info)
        save_pngs(to_uint8_rgb(data.train_x[: args.samples]), work / "real")
        # Warm both caches (reference features) so the timed runs compare steady states.
        file_route(evaluator, generator, cell, work / "real", work / "fidelity-cache")
        memory_route(evaluator, generator, cell)
        print(
            f"stacked digits 3x8x8, {args.samples} generated vs {args.samples} real samples, "
            f"IS/FID/KID/PR, {args.threads} thread(s), {args.repeats} alternating repeats"
        )
        file_times, memory_times = [], []
        for repeat in range(args.repeats):
            order = (0, 1) if repeat % 2 == 0 else (1, 0)
            results = {}
            for side in order:
                if side == 0:
                    results[0] = file_route(
                        evaluator, generator, cell, work / "real", work / "fidelity-cache"
                    )
                else:
                    results[1] = memory_route(evaluator, generator, cell)
            (file_time, file_scores), (memory_time, memory_scores) = results[0], results[1]
            for file_value, memory_value in zip(file_scores, memory_scores, strict=True):
                assert abs(file_value - memory_value) <= 1e-5 * max(1.0, abs(file_value)), (
                    file_scores,
                    memory_scores,
                )
            file_times.append(file_time)
            memory_times.append(memory_time)
            print(
                f"  repeat {repeat + 1}: PNG + torch-fidelity {file_time:.2f} s, in memory {memory_time:.2f} s, "
                f"FID {memory_scores[0]:.4f}, precision {memory_scores[1]:.4f}, "
                f"recall {memory_scores[2]:.4f} both"
            )
        files, memory = statistics.median(file_times), statistics.median(memory_times)
        print(f"median: PNG round trip {files:.2f} s, in memory {memory:.2f} s")
        print(f"ratio (PNG round trip / in memory): {files / memory:.2f}  (target >= 2)")


if __name__ == "__main__":
    main()
