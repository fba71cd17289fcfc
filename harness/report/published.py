"""Published beside reproduced: a paper suite's stored published numbers against the values
its runs reproduced, with the budget ratio and a verdict.

Verdicts:

- ``budget too small to compare``: the runs had less than ``COMPARABLE`` of the published
  budget (generator steps when both sides give them, else images shown to D);
- ``within the published spread`` / ``outside the published spread``: the reproduced mean is
  (not) within the published ± spread of the published value;
- ``within the reproduced interval`` / ``outside the reproduced interval``: no spread was
  published, and the published value is (not) inside the reproduced mean's 95% interval;
- ``not reproduced yet``: no completed run has the metric;
- ``reproduced on <dataset>, not comparable``: the published value was measured on another
  dataset than the runs used (a paper suite's fallback, e.g. stacked digits for stacked MNIST).
"""

from __future__ import annotations

import math

import pandas as pd

COMPARABLE = 0.9  # reproduced / published budget at which a comparison is meaningful
COLUMNS = [
    "variant",
    "dataset",
    "metric",
    "published",
    "spread",
    "published_runs",
    "published_samples",
    "published_budget",
    "reproduced",
    "ci_low",
    "ci_high",
    "n",
    "budget_ratio",
    "verdict",
    "source",
]


def _budget(entry, runs: pd.DataFrame) -> tuple[str, float]:
    """(published budget as text, reproduced / published), from what both sides give."""

    def mean_of(column: str) -> float:
        if runs.empty or column not in runs:
            return math.nan
        return float(pd.to_numeric(runs[column], errors="coerce").mean())

    if entry.budget_g_steps is not None:
        steps = mean_of("metric:g_steps")
        if not math.isnan(steps) or entry.budget_kimg is None:
            return f"{entry.budget_g_steps:,} G steps", steps / entry.budget_g_steps
    if entry.budget_kimg is not None:
        return f"{entry.budget_kimg:g} kimg", mean_of("metric:kimg") / entry.budget_kimg
    return "–", math.nan


def _verdict(entry, mean: float, low: float, high: float, ratio: float, n: int) -> str:
    if n == 0:
        return "not reproduced yet"
    if not math.isnan(ratio) and ratio < COMPARABLE:
        return "budget too small to compare"
    if entry.spread is not None:
        inside = abs(mean - entry.value) <= entry.spread
        return f"{'within' if inside else 'outside'} the published spread"
    inside = not math.isnan(low) and low <= entry.value <= high
    return f"{'within' if inside else 'outside'} the reproduced interval"


def _measured_elsewhere(entry, runs: pd.DataFrame) -> str | None:
    """The dataset the runs used, when the published value was measured on another one."""
    if entry.measured_on is None or runs.empty or "dataset_name" not in runs:
        return None
    used = sorted({str(name) for name in runs["dataset_name"].dropna()} - {entry.measured_on})
    return ", ".join(used) or None


def compare(published: list, table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per published entry: the published value beside the reproduced one (of the
    final or the best checkpoint, as the entry says)."""
    rows = []
    for entry in published:
        found = table[
            (table["variant"] == entry.variant)
            & (table["dataset"] == entry.dataset)
            & (table["column"] == entry.metric)
            & (table["checkpoint"] == entry.checkpoint)
            & ~table["real"]
        ]
        mean = low = high = math.nan
        n = 0
        if len(found):
            row = found.iloc[0]
            mean, low, high, n = row["mean"], row["ci_low"], row["ci_high"], int(row["n"])
        cell_runs = runs
        if not runs.empty:
            cell_runs = runs[
                (runs["variant"] == entry.variant)
                & (runs["dataset"] == entry.dataset)
                & (runs["status"] == "completed")
            ]
        budget, ratio = _budget(entry, cell_runs)
        verdict = _verdict(entry, mean, low, high, ratio, n)
        elsewhere = _measured_elsewhere(entry, cell_runs)
        if elsewhere and n:
            verdict = f"reproduced on {elsewhere}, not comparable"
        rows.append(
            {
                "variant": entry.variant,
                "dataset": entry.dataset,
                "metric": entry.metric
                + (" (best checkpoint)" if entry.checkpoint == "best" else ""),
                "published": entry.value,
                "spread": entry.spread,
                "published_runs": entry.runs,
                "published_samples": entry.samples,
                "published_budget": budget,
                "reproduced": mean,
                "ci_low": low,
                "ci_high": high,
                "n": n,
                "budget_ratio": ratio,
                "verdict": verdict,
                "source": entry.source,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def texts(frame: pd.DataFrame) -> pd.DataFrame:
    """The comparison as display strings (for Markdown and HTML)."""
    from harness.report.render import fmt

    shown = []
    for _, row in frame.iterrows():
        published = fmt(row["published"])
        if row["spread"] is not None and not pd.isna(row["spread"]):
            published += f" ± {fmt(row['spread'])}"
        detail = [
            f"{int(row['published_runs'])} runs" if not pd.isna(row["published_runs"]) else "",
            f"{int(row['published_samples'])} samples"
            if not pd.isna(row["published_samples"])
            else "",
            row["published_budget"] if row["published_budget"] != "–" else "",
        ]
        reproduced = "–"
        if row["n"]:
            reproduced = f"{fmt(row['reproduced'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
            reproduced += f" (n={row['n']})"
        ratio = row["budget_ratio"]
        shown.append(
            {
                "variant": row["variant"],
                "dataset": row["dataset"],
                "metric": row["metric"],
                "published": published
                + (f" ({', '.join(d for d in detail if d)})" if any(detail) else ""),
                "reproduced (95% interval)": reproduced,
                "budget ratio": "–" if pd.isna(ratio) else f"{ratio:.3g}",
                "verdict": row["verdict"],
                "source": row["source"],
            }
        )
    return pd.DataFrame(shown)
