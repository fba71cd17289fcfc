"""BLEU-2..5 and leave-one-out Self-BLEU on 10,000 × 10,000 sentences, against NLTK's
``sentence_bleu`` (method 1) side by side in one run.

Sentences: the Image COCO captions (train as hypotheses, test as references; Self-BLEU on
train) when ``--coco`` points at them (default: ../shared/data/coco-captions beside the
project), else 10,000 synthetic sentences. NLTK is timed on ``--nltk`` hypotheses and
extrapolated; every one of them is also checked equal to the pooled score. Target: the whole
10k × 10k BLEU-2..5 plus Self-BLEU in under 30 s on one core.

    OMP_NUM_THREADS=1 python tests/benchmarks/bench_bleu.py [--coco DIR] [--nltk 20]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu  # noqa: E402

from harness.data.text import read_sentences  # noqa: E402
from harness.evaluate.bleu import ReferencePool, bleu, self_bleu  # noqa: E402


def synthetic(count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(5000)]
    weights = [1 / (i + 1) for i in range(5000)]  # Zipf-like, as words are
    return [rng.choices(words, weights, k=rng.randint(5, 20)) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    default = Path(__file__).resolve().parents[3] / "shared" / "data" / "coco-captions"
    parser.add_argument("--coco", type=Path, default=default)
    parser.add_argument("--nltk", type=int, default=20, help="hypotheses NLTK scores")
    args = parser.parse_args()
    if (args.coco / "train.txt").is_file():
        hypotheses = read_sentences(args.coco / "train.txt")
        references = read_sentences(args.coco / "test.txt")
        what = f"COCO captions from {args.coco}"
    else:
        hypotheses, references = synthetic(10_000, 0), synthetic(10_000, 1)
        what = "synthetic sentences"
    print(f"{len(hypotheses)} hypotheses × {len(references)} references ({what})")

    started = time.perf_counter()
    scores = bleu(hypotheses, references)
    pooled_bleu = time.perf_counter() - started
    started = time.perf_counter()
    selfs = self_bleu(hypotheses)
    pooled_self = time.perf_counter() - started
    print("BLEU-2..5      " + " / ".join(f"{scores[n]:.4f}" for n in (2, 3, 4, 5)))
    print("Self-BLEU-2..5 " + " / ".join(f"{selfs[n]:.4f}" for n in (2, 3, 4, 5)))

    weights = [(1 / n,) * n for n in (2, 3, 4, 5)]
    smoothing = SmoothingFunction().method1
    pool = ReferencePool(references)
    started = time.perf_counter()
    worst = 0.0
    for hypothesis in hypotheses[: args.nltk]:
        expected = sentence_bleu(references, hypothesis, weights, smoothing_function=smoothing)
        ours = pool.sentence_bleu(hypothesis)
        worst = max(worst, *(abs(e - ours[n]) for e, n in zip(expected, (2, 3, 4, 5), strict=True)))
    per_hypothesis = (time.perf_counter() - started) / args.nltk
    nltk_total = per_hypothesis * len(hypotheses)
    print(
        f"pooled: BLEU-2..5 {pooled_bleu:.2f} s, Self-BLEU-2..5 {pooled_self:.2f} s, "
        f"total {pooled_bleu + pooled_self:.2f} s (target < 30 s on one core)"
    )
    print(
        f"NLTK: {per_hypothesis:.3f} s per hypothesis, so {nltk_total:.0f} s for BLEU alone; "
        f"ratio NLTK / pooled (BLEU) {nltk_total / pooled_bleu:.0f}×; "
        f"max |pooled − NLTK| over {args.nltk} hypotheses {worst:.1e}"
    )


if __name__ == "__main__":
    main()
