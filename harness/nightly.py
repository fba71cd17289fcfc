"""``ganbench nightly``: run a suite afresh (new run directories, nothing skipped), compare
every cell with a baseline (``harness.report.nightly``: the comparison rule and the report
files), tag the invocation with the verdict, and write the reports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from harness.report.data import Source, load
from harness.report.nightly import (
    compare,
    nightly_experiment,
    resolve_baseline,
    write_pinned,
    write_reports,
)


def run_nightly(
    suite,
    results: Path,
    device: str,
    baseline: str | None,
    update_baseline: bool,
    reports: Path,
    stream,
    workers: int = 1,
):
    """Run, compare, write the reports; (exit code, comparisons)."""
    from harness.runner import git_commit, run_suite
    from harness.track.mlflow_tracker import MlflowTracker, tracking_uri

    now = datetime.now(UTC)
    date, stamp = f"{now:%Y-%m-%d}", f"{now:%Y%m%d-%H%M%S-%f}"
    uri = tracking_uri(results)
    outcome = run_suite(
        suite,
        results,
        device,
        stream=stream,
        fresh_dir=Path(results) / "nightly" / suite.name / stamp,
        experiment=nightly_experiment(suite),
        parent_tags={"kind": "nightly", "nightly.date": date, "nightly.stamp": stamp},
        workers=workers,
    )
    parent = outcome.parent_run_id
    current = load(Source(uri, parent_run_id=parent))
    base_frame, base_text = resolve_baseline(uri, suite, baseline, parent)
    comparisons = compare(current, base_frame, suite.nightly, len(suite.seeds))
    bad = [c for c in comparisons if c.verdict in ("regressed", "failed")]
    verdict = "regressed" if bad else "passed"
    tracker = MlflowTracker(results, nightly_experiment(suite))
    tags = {"nightly.verdict": verdict, "nightly.baseline_source": base_text}
    counts = pd.Series([c.verdict for c in comparisons]).value_counts().to_dict()
    tags.update({f"nightly.cells.{k}": v for k, v in counts.items()})
    out_dir = reports / suite.name
    if update_baseline:
        tags["nightly.baseline"] = "true"
        write_pinned(current, out_dir / "baseline.json", parent, suite)
    tracker.set_tags(parent, tags)
    header = {
        "suite": suite.name,
        "suite version": suite.version,
        "run": parent,
        "commit": git_commit(),
        "baseline": base_text,
        "verdict": verdict,
        "cells": ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())),
        "rule": f"paired t-test over seeds (Welch when seeds differ) at alpha {suite.nightly.alpha}, or the same direction on every seed (>= 3); "
        f"default tolerance {suite.nightly.default_tolerance:g} × |baseline mean|",
    }
    written = write_reports(out_dir, date, header, comparisons)
    return (1 if bad else 0), comparisons, written, verdict, base_text, parent
