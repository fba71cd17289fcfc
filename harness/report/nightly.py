"""Nightly comparisons: a fresh run of a suite compared cell by cell with a baseline, and the
nightly report files (``harness.nightly`` runs the suite and calls these).

The run retrains every cell (a new run directory per invocation) under a parent run tagged
``kind=nightly`` with the date and commit, in the experiment ``<suite experiment>/nightly``.
The baseline is, by default, the latest earlier nightly run that passed or was promoted with
``--update-baseline``; ``--baseline`` names a parent run id, a ``tag=value`` or a pinned baseline
file (``reports/<suite>/baseline.json``, written by ``--update-baseline``, kept in the repo).

Per cell (variant × dataset) and metric: the seeds' values of both runs; a paired t-test over
seeds (Welch's when the seed sets differ) at the suite's ``[nightly] alpha``; a change counts
when its mean is larger than the tolerance and it is significant, or every one of at least
three shared seeds moved beyond the tolerance in the same direction (a t-test on three seeds
misses a large uneven change). A cell is ``regressed`` when any metric
got worse that way, ``improved`` when some got better and none worse, ``failed`` when a run did
not complete or a seed is missing, ``new`` with nothing to compare to, else ``unchanged``.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.report.data import Source, client_for, load, search_all
from harness.report.stats import metric_base, metric_columns

VERDICT_ORDER = ("failed", "regressed", "improved", "new", "unchanged")


@dataclass
class Comparison:
    variant: str
    dataset: str
    verdict: str
    metrics: list[dict]  # one per metric: key, base/current means, diff, p, tolerance, outcome
    note: str = ""


def p_value(base: dict[int, float], current: dict[int, float]) -> tuple[float, str]:
    """Paired t-test over shared seeds, else Welch's; 0 when both sides have no spread and
    differ, NaN when a side has fewer than two values."""
    from scipy import stats

    shared = sorted(set(base) & set(current))
    if len(shared) >= 2 and len(shared) == len(base) == len(current):
        differences = np.array([current[s] - base[s] for s in shared])
        if np.all(differences == differences[0]):
            return (0.0 if differences[0] != 0 else 1.0), "paired"
        return float(
            stats.ttest_rel([current[s] for s in shared], [base[s] for s in shared]).pvalue
        ), "paired"
    b, c = np.array(list(base.values())), np.array(list(current.values()))
    if len(b) < 2 or len(c) < 2:
        return float("nan"), "none"
    if b.std() == 0 and c.std() == 0:
        return (0.0 if b.mean() != c.mean() else 1.0), "welch"
    return float(stats.ttest_ind(c, b, equal_var=False).pvalue), "welch"


def compare_metric(key, base, current, spec) -> dict:
    from harness.report.stats import higher_is_better

    name = metric_base(key)
    base_mean = float(np.mean(list(base.values())))
    current_mean = float(np.mean(list(current.values())))
    diff = current_mean - base_mean
    higher = higher_is_better(key)
    tolerance = max(
        spec.tolerance.get(name, spec.default_tolerance) * abs(base_mean),
        spec.absolute_tolerance.get(name, 0.0),
    )
    p, test = p_value(base, current)
    shared = sorted(set(base) & set(current))
    per_seed = [current[s] - base[s] for s in shared]
    # With a handful of seeds a t-test misses a large but uneven change (one seed diverging
    # by 1000x): a change every one of >= 3 shared seeds shows beyond the tolerance, in one
    # direction, counts as well.
    consistent = len(shared) >= 3 and (
        all(d > tolerance for d in per_seed) or all(d < -tolerance for d in per_seed)
    )
    outcome = "unchanged"
    if abs(diff) > tolerance and (math.isnan(p) or p < spec.alpha or consistent):
        worse = diff < 0 if higher else diff > 0
        outcome = "regressed" if worse else "improved"
    return {
        "metric": key,
        "higher_is_better": higher,
        "baseline": base_mean,
        "current": current_mean,
        "diff": diff,
        "tolerance": tolerance,
        "p": p,
        "test": test + (", consistent over seeds" if consistent else ""),
        "n_baseline": len(base),
        "n_current": len(current),
        "outcome": outcome,
    }


def _values(frame: pd.DataFrame, key: str) -> dict[int, float]:
    column = f"metric:{key}"
    if column not in frame:
        return {}
    done = frame[(frame["status"] == "completed") & frame[column].notna()]
    return {int(seed): float(value) for seed, value in zip(done["seed"], done[column], strict=True)}


def compare(
    current: pd.DataFrame, baseline: pd.DataFrame | None, spec, seeds: int
) -> list[Comparison]:
    results = []
    keys = [k for k in metric_columns(current) if not k.startswith("best/")]
    for (variant, dataset), runs in current.groupby(["variant", "dataset"], sort=True):
        failed = runs[runs["status"] != "completed"]
        if len(failed) or len(runs) < seeds:
            reasons = (
                "; ".join(
                    f"seed {s}: {st} ({r})"
                    for s, st, r in zip(
                        failed["seed"], failed["status"], failed["status_reason"], strict=True
                    )
                )
                or f"{len(runs)} of {seeds} seeds ran"
            )
            results.append(Comparison(variant, dataset, "failed", [], reasons))
            continue
        if baseline is None or baseline.empty:
            results.append(Comparison(variant, dataset, "new", [], "no baseline"))
            continue
        base_runs = baseline[(baseline["variant"] == variant) & (baseline["dataset"] == dataset)]
        if base_runs.empty:
            results.append(Comparison(variant, dataset, "new", [], "not in the baseline"))
            continue
        metrics = []
        for key in keys:
            now, before = _values(runs, key), _values(base_runs, key)
            if now and before:
                metrics.append(compare_metric(key, before, now, spec))
        outcomes = {m["outcome"] for m in metrics}
        verdict = (
            "regressed"
            if "regressed" in outcomes
            else "improved"
            if "improved" in outcomes
            else "unchanged"
        )
        results.append(Comparison(variant, dataset, verdict, metrics))
    return results


# ---------------------------------------------------------------------------------------
# Baselines.


def nightly_experiment(suite) -> str:
    return f"{suite.experiment}/nightly"


def nightly_parents(uri: str, suite) -> pd.DataFrame:
    client = client_for(uri)
    found = client.get_experiment_by_name(nightly_experiment(suite))
    if found is None:
        return pd.DataFrame()
    parents = search_all(client, [found.experiment_id], "tags.kind = 'nightly'")
    rows = [
        {
            "run_id": p.info.run_id,
            "start_time": p.info.start_time,
            "verdict": p.data.tags.get("nightly.verdict"),
            "baseline": p.data.tags.get("nightly.baseline") == "true",
            "tags": p.data.tags,
        }
        for p in parents
    ]
    return pd.DataFrame(rows).sort_values("start_time") if rows else pd.DataFrame()


def resolve_baseline(uri: str, suite, wanted: str | None, current_run: str):
    """(frame of baseline cell runs, description) or (None, why there is none)."""
    if wanted and Path(wanted).is_file():
        return pinned_frame(Path(wanted)), f"pinned file {wanted}"
    parents = nightly_parents(uri, suite)
    if not parents.empty:
        parents = parents[parents["run_id"] != current_run]
    if wanted and "=" in wanted:
        key, value = wanted.split("=", 1)
        chosen = (
            parents[[p.get(key) == value for p in parents["tags"]]]
            if not parents.empty
            else parents
        )
        if chosen.empty:
            raise LookupError(
                f"--baseline {wanted}: no earlier nightly run of {suite.name} has that tag"
            )
        run_id = chosen.iloc[-1]["run_id"]
    elif wanted:
        run_id = wanted
    else:
        if parents.empty:
            return None, "none: this is the first nightly run"
        eligible = parents[parents["baseline"] | (parents["verdict"] == "passed")]
        if eligible.empty:
            return None, "none: no earlier nightly run passed or was promoted"
        run_id = eligible.iloc[-1]["run_id"]
    return load(Source(uri, parent_run_id=run_id)), f"nightly run {run_id}"


def pinned_frame(path: Path) -> pd.DataFrame:
    data = json.loads(path.read_text())
    rows = []
    for cell in data["cells"]:
        row = {k: cell[k] for k in ("variant", "dataset", "seed", "status")}
        row.update({f"metric:{k}": v for k, v in cell["metrics"].items()})
        rows.append(row)
    return pd.DataFrame(rows)


def write_pinned(frame: pd.DataFrame, path: Path, run_id: str, suite) -> None:
    cells = []
    for _, row in frame.sort_values(["variant", "dataset", "seed"]).iterrows():
        metrics = {
            c.removeprefix("metric:"): float(row[c])
            for c in frame.columns
            if c.startswith("metric:") and not pd.isna(row[c])
        }
        cells.append(
            {
                "variant": row["variant"],
                "dataset": row["dataset"],
                "seed": int(row["seed"]),
                "status": row["status"],
                "metrics": metrics,
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"suite": suite.name, "suite_version": suite.version, "run_id": run_id, "cells": cells}
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------
# Report files.


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4g}"


def summary_rows(comparisons: list[Comparison]) -> list[list[str]]:
    rows = []
    for c in sorted(
        comparisons, key=lambda c: (VERDICT_ORDER.index(c.verdict), c.dataset, c.variant)
    ):
        changed = [m for m in c.metrics if m["outcome"] != "unchanged"]
        detail = (
            "; ".join(
                f"{m['metric']} {_fmt(m['baseline'])} → {_fmt(m['current'])} (p={_fmt(m['p'])})"
                for m in changed
            )
            or c.note
            or "all metrics within tolerance"
        )
        rows.append([c.variant, c.dataset, c.verdict, detail])
    return rows


def write_reports(out_dir: Path, date: str, header: dict[str, str], comparisons) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = summary_rows(comparisons)
    md = [f"# Nightly {header['suite']} {date}", ""]
    md += [f"- **{k}**: {v}" for k, v in header.items()]
    md += ["", "| variant | dataset | verdict | changes |", "|---|---|---|---|"]
    md += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    md += [
        "",
        "## Every metric",
        "",
        "| variant | dataset | metric | baseline | current | diff | tolerance | p | test | outcome |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        for m in c.metrics:
            md.append(
                f"| {c.variant} | {c.dataset} | {m['metric']} | {_fmt(m['baseline'])} | "
                f"{_fmt(m['current'])} | {_fmt(m['diff'])} | {_fmt(m['tolerance'])} | "
                f"{_fmt(m['p'])} | {m['test']} | {m['outcome']} |"
            )
    md_path = out_dir / f"nightly-{date}.md"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")

    e = html.escape
    colours = {
        "regressed": "#fdd",
        "failed": "#fcc",
        "improved": "#dfd",
        "new": "#eef",
        "unchanged": "#fff",
    }
    page = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{e("Nightly " + header["suite"] + " " + date)}</title>',
        "<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}</style></head><body>",
        f"<h1>{e('Nightly ' + header['suite'] + ' ' + date)}</h1><dl>",
    ]
    page += [f"<dt><b>{e(k)}</b></dt><dd>{e(str(v))}</dd>" for k, v in header.items()]
    page.append(
        "</dl><table><tr><th>variant</th><th>dataset</th><th>verdict</th><th>changes</th></tr>"
    )
    for row in rows:
        page.append(
            f'<tr style="background:{colours[row[2]]}">'
            + "".join(f"<td>{e(cell)}</td>" for cell in row)
            + "</tr>"
        )
    page.append("</table></body></html>")
    html_path = out_dir / f"nightly-{date}.html"
    html_path.write_text("\n".join(page) + "\n", encoding="utf-8")
    return [md_path, html_path]
