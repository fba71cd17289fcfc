"""Harness training throughput vs a plain PyTorch loop over the same networks and budget.

Both sides train the same DCGAN (the registered ``dcgan`` preset) on digits for the same number
of iterations, from the same initial weights, data order and latents, so they must end with
bit-identical weights (checked). The harness side is ``Trainer.run`` with its ticks: per-step
stats, divergence checks, a sample picture and a checkpoint every tick. The two are timed
alternately in one process and the ratio of medians is printed (target: at least 0.97).

    python tests/benchmarks/bench_train_throughput.py [--kimg 100] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn.functional import softplus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import make_cell  # noqa: E402

from harness.data import load_dataset  # noqa: E402
from harness.evaluate.evaluator import Evaluator  # noqa: E402
from harness.train.loop import Trainer, total_iterations  # noqa: E402
from harness.train.seeding import configure_determinism, derive_seed  # noqa: E402
from harness.variants import ARCHITECTURES  # noqa: E402
from harness.variants.optimizers import make_optimizer  # noqa: E402


def harness_run(cell, data) -> tuple[float, dict]:
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(cell, data, cpu, Evaluator(cell.evaluation, data, cpu), Path(run_dir))
        start = time.perf_counter()
        outcome = trainer.run()
        elapsed = time.perf_counter() - start
    assert outcome.status == "completed", outcome
    return elapsed, trainer.recipe.G.state_dict()


def plain_run(cell, data) -> tuple[float, dict]:
    """The textbook loop: the same math, no ticks, no stats, no checkpoints."""
    variant, seed = cell.variant, cell.seed
    torch.manual_seed(derive_seed(seed, "init"))
    G, D = ARCHITECTURES.get(variant.architecture)(variant, data.info)
    opt_g = make_optimizer(variant.g_opt, G.parameters())
    opt_d = make_optimizer(variant.d_opt, D.parameters())
    latents = torch.Generator().manual_seed(derive_seed(seed, "latent"))
    data_seed, batch, x = derive_seed(seed, "data"), variant.batch_size, data.train_x
    epoch, position = 0, 0
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(data_seed))

    start = time.perf_counter()
    for _ in range(total_iterations(cell, cell.variant.batch_size)):
        if position + batch > len(x):
            epoch, position = epoch + 1, 0
            order = torch.randperm(
                len(x), generator=torch.Generator().manual_seed(data_seed + epoch)
            )
        real = x[order[position : position + batch]]
        position += batch
        with torch.no_grad():
            fake = G(torch.randn(batch, variant.latent_dim, generator=latents))
        d_loss = softplus(-D(real)).mean() + softplus(D(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        D.requires_grad_(False)
        g_loss = softplus(-D(G(torch.randn(batch, variant.latent_dim, generator=latents)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
    return time.perf_counter() - start, G.state_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kimg", type=float, default=100, help="as in suites/nightly-cpu.toml")
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    configure_determinism(torch.device("cpu"))

    cell = make_cell("dcgan", "digits", budget={"kimg": args.kimg, "ticks": args.ticks})
    data = load_dataset(cell.dataset, cell.dataset_params)
    print(
        f"dcgan on digits, {total_iterations(cell, cell.variant.batch_size)} iterations, batch {cell.variant.batch_size}, "
        f"{args.ticks} ticks, {args.threads} thread(s), {args.repeats} alternating repeats"
    )
    harness_run(cell, data)  # warm-up: one-time allocations and lazy imports
    harness_times, plain_times = [], []
    for repeat in range(args.repeats):
        # Alternate which side goes first so drift on a shared machine hits both equally.
        if repeat % 2 == 0:
            h_time, h_weights = harness_run(cell, data)
            p_time, p_weights = plain_run(cell, data)
        else:
            p_time, p_weights = plain_run(cell, data)
            h_time, h_weights = harness_run(cell, data)
        identical = all(torch.equal(h_weights[k], p_weights[k]) for k in h_weights)
        assert identical, "the harness and the plain loop did not train the same thing"
        harness_times.append(h_time)
        plain_times.append(p_time)
        print(
            f"  repeat {repeat + 1}: harness {h_time:.2f} s, plain {p_time:.2f} s, weights identical"
        )
    harness, plain = statistics.median(harness_times), statistics.median(plain_times)
    print(f"median: harness {harness:.2f} s, plain loop {plain:.2f} s")
    print(f"throughput ratio (harness / plain): {plain / harness:.3f}  (target >= 0.97)")


if __name__ == "__main__":
    main()
