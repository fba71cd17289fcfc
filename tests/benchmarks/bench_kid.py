"""KID: torch-fidelity's per-subset loop against the harness's whole-kernel route, side by side
in one run, on features shaped like the domain classifier's (128 non-negative values).

torch-fidelity's ``kid_features_to_metric`` computes three 1,000 × 1,000 kernel blocks for
each of its 100 subsets; at 2,500 samples that computes every kernel entry about 16 times.
``harness.evaluate.image_metrics.kid_mean`` computes each kernel matrix once and copies the
subsets' blocks out of it, then sums them with torch-fidelity's own ``mmd2``. Every repeat
checks that both give the same value bit for bit; the ratio of median times is printed.

    python tests/benchmarks/bench_kid.py [--samples 2500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> int:
    from torch_fidelity.metric_kid import kid_features_to_metric

    from harness.evaluate.fidelity import FIDELITY_KWARGS
    from harness.evaluate.image_metrics import kid_mean, kid_subset_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    generated = torch.relu(torch.randn(args.samples, args.dim, generator=generator))
    real = torch.relu(torch.randn(args.samples, args.dim, generator=generator) + 0.1)
    size = kid_subset_size(args.samples, args.samples)
    kwargs = {**FIDELITY_KWARGS, "kid_subset_size": size}
    loop_times, whole_times, same = [], [], True
    for repeat in range(args.repeats):
        began = time.perf_counter()
        theirs = kid_features_to_metric(generated, real, **kwargs)["kernel_inception_distance_mean"]
        loop_times.append(time.perf_counter() - began)
        began = time.perf_counter()
        ours = kid_mean(generated, real, size)
        whole_times.append(time.perf_counter() - began)
        same = same and ours == theirs
        print(
            f"  repeat {repeat + 1}: torch-fidelity {loop_times[-1]:.2f} s, whole kernels "
            f"{whole_times[-1]:.2f} s, KID {ours!r} vs {theirs!r}"
        )
    loop, whole = statistics.median(loop_times), statistics.median(whole_times)
    print(
        f"KID of {args.samples} x {args.samples} samples ({args.dim} features, 100 subsets of "
        f"{size}): torch-fidelity {loop:.2f} s, whole kernels {whole:.2f} s; "
        f"ratio {loop / whole:.2f}; bit-identical: {same}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
