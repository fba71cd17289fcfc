"""``ganbench report``: leaderboard.md, a self-contained leaderboard.html and leaderboard.csv
under ``reports/<suite>/``, from the MLflow runs of a suite, an experiment or one invocation."""

from __future__ import annotations

import base64
import html
import math
import platform
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from harness.report import figures
from harness.report.data import Source, client_for, latest_per_cell, load, runs_frame, search_all
from harness.report.stats import leaderboard

MAX_SAMPLE_GRIDS = 16  # per dataset


@dataclass
class Report:
    title: str
    provenance: dict[str, str]
    table: pd.DataFrame
    runs: pd.DataFrame
    figures: list[tuple[str, str, bytes]] = field(default_factory=list)  # (name, caption, png)
    notes: list[str] = field(default_factory=list)


def fmt(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}g}"


def cell_text(row) -> str:
    """``mean ± std [lo, hi] #rank``, as both the Markdown and the HTML show it."""
    text = fmt(row["mean"])
    if not math.isnan(row["std"]):
        text += f" ± {fmt(row['std'], 2)}"
    if not math.isnan(row["ci_low"]):
        text += f" [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"
    if row["n"] < row["expected"]:
        text += f" (n={int(row['n'])} of {int(row['expected'])}, not ranked)"
    if not pd.isna(row["rank"]):
        text += f" #{int(row['rank'])}"
    return text


def seeds_text(rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    n = int(rows["n"].max())
    mark = "" if rows["cell_complete"].all() else " ⚠ incomplete"
    return f"{n}/{int(first['expected'])}{mark}"


def build(
    source: Source,
    title: str,
    expected_seeds: dict[str, int] | None = None,
    spec_hashes: set[str] | None = None,
    with_figures: bool = True,
) -> Report:
    runs = latest_per_cell(load(source))
    notes = []
    if spec_hashes is not None and not runs.empty:
        stale = runs[~runs["spec_hash"].isin(spec_hashes)]
        if len(stale):
            notes.append(f"{len(stale)} run(s) of specs no longer in the suite file were left out")
        runs = runs[runs["spec_hash"].isin(spec_hashes)].reset_index(drop=True)
        missing = len(spec_hashes) - runs["spec_hash"].nunique()
        if missing:
            notes.append(f"{missing} cell(s) of the suite have no run yet (marked incomplete)")
    table = leaderboard(runs, expected_seeds)
    report = Report(title, provenance(runs, source), table, runs, notes=notes)
    if with_figures:
        add_figures(report, source)
    return report


def provenance(runs: pd.DataFrame, source: Source) -> dict[str, str]:
    def unique(column: str) -> str:
        if runs.empty or column not in runs:
            return "–"
        values = sorted({str(v) for v in runs[column].dropna()})
        return ", ".join(values) if values else "–"

    info = {
        "suite": unique("suite"),
        "suite version": unique("suite_version"),
        "cell runs": str(len(runs)),
        "distinct spec hashes": str(runs["spec_hash"].nunique()) if not runs.empty else "0",
        "git commits": unique("git_commit"),
        "feature extractor": unique("eval.extractor"),
        "extractor weights hash": unique("eval.extractor_weights_hash"),
        "evaluation samples": unique("eval.num_samples"),
        "reference split": unique("eval.reference_split"),
        "hardware": f"{unique('device')}; torch threads {unique('torch_threads')}; "
        f"python {unique('python')}",
        "runs from": (
            f"{runs['start_time'].min():%Y-%m-%d %H:%M} to {runs['end_time'].max():%Y-%m-%d %H:%M} UTC"
            if not runs.empty and runs["end_time"].notna().any()
            else "–"
        ),
        "source": (
            f"parent run {source.parent_run_id}"
            if source.parent_run_id
            else f"experiment {source.experiment}"
        ),
        "tracking store": source.tracking_uri,
        "report built": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'}",
    }
    return info


def add_figures(report: Report, source: Source) -> None:
    client = client_for(source.tracking_uri)
    runs = report.runs
    for dataset, in_dataset in runs.groupby("dataset", sort=True) if not runs.empty else ():
        key = figures.headline_key(in_dataset)
        if key is None:
            continue
        histories = {}
        for variant, group in in_dataset.groupby("variant"):
            points = []
            for run_id in group["run_id"]:
                for step, value in (
                    (m.step, m.value) for m in client.get_metric_history(run_id, key)
                ):
                    points.append({"step": step, "value": value, "run": run_id})
            if points:
                histories[variant] = pd.DataFrame(points)
        if histories:
            report.figures.append(
                (
                    f"curves-{dataset}",
                    f"{dataset}: {key} against images seen (mean over seeds, min–max band)",
                    figures.curves(histories, key, f"{dataset}: {key}"),
                )
            )
        compute = (
            in_dataset[in_dataset["status"] == "completed"]
            .groupby("variant")[[f"metric:{key}", "metric:wall_seconds", "metric:images_seen"]]
            .agg(lambda values: values.mean(skipna=False))  # undefined for a seed: no point
            .rename(columns=lambda c: c.removeprefix("metric:"))
            .reset_index()
        )
        if len(compute):
            report.figures.append(
                (
                    f"compute-{dataset}",
                    f"{dataset}: {key} against compute per cell, Pareto front marked",
                    figures.quality_vs_compute(compute, key, dataset),
                )
            )
        grid = sample_grid(client, in_dataset, dataset)
        if grid:
            report.figures.append(grid)
    trials = study_trials(source)
    if trials is not None and len(trials):
        report.figures.append(
            (
                "studies",
                "Studies: best objective so far against trials",
                figures.best_so_far(trials, "studies"),
            )
        )


def sample_grid(client, runs: pd.DataFrame, dataset: str):
    """The final sample picture (fixed latent bank) of each variant's first seed, side by side."""
    import os

    import matplotlib

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    pictures = []
    done = runs[runs["status"] == "completed"].sort_values(["variant", "seed"])
    for variant, group in list(done.groupby("variant", sort=True))[:MAX_SAMPLE_GRIDS]:
        run_id = group["run_id"].iloc[0]
        try:
            listed = sorted(a.path for a in client.list_artifacts(run_id, "samples"))
            if not listed:
                continue
            with tempfile.TemporaryDirectory() as folder:
                local = client.download_artifacts(run_id, listed[-1], folder)
                pictures.append((variant, mpimg.imread(local)))
        except Exception:  # an artifact store we cannot read: leave the picture out
            continue
    if not pictures:
        return None
    cols = min(4, len(pictures))
    rows = math.ceil(len(pictures) / cols)
    figure, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (variant, picture) in zip(axes.flat, pictures, strict=False):
        ax.imshow(picture)
        ax.set_title(str(variant), fontsize=8)
    return (
        f"samples-{dataset}",
        f"{dataset}: final samples from the suite's fixed latent bank (first seed)",
        figures._png(figure),
    )


def study_trials(source: Source) -> pd.DataFrame | None:
    """Trial runs of the studies in the source's experiment, with each study's direction."""
    if not source.experiment:
        return None
    client = client_for(source.tracking_uri)
    found = client.get_experiment_by_name(source.experiment)
    if found is None:
        return None
    trials = search_all(client, [found.experiment_id], "tags.kind = 'study_trial'")
    if not trials:
        return None
    frame = runs_frame(trials)
    if "metric:objective" not in frame:
        return None
    parents = search_all(client, [found.experiment_id], "tags.kind = 'study'")
    directions = {p.data.tags.get("study"): p.data.tags.get("direction") for p in parents}
    frame = frame[frame["metric:objective"].notna()].copy()
    frame["direction"] = frame["study"].map(directions)
    return frame


# ---------------------------------------------------------------------------------------
# Writing.


def _sections(table: pd.DataFrame):
    """(dataset, checkpoint, wide table of cell texts) for each table shown."""
    for dataset, in_dataset in table.groupby("dataset", sort=True):
        for checkpoint in ("final", "best"):
            part = in_dataset[in_dataset["checkpoint"] == checkpoint]
            if part.empty:
                continue
            columns = list(dict.fromkeys(part["column"]))
            rows = []
            for variant, group in part.groupby("variant", sort=True):
                row = {"variant": variant, "seeds": seeds_text(group)}
                for _, entry in group.iterrows():
                    row[entry["column"]] = cell_text(entry)
                rows.append(row)
            header = {
                c: c
                + (" ↑" if bool(part[part["column"] == c]["higher_is_better"].iloc[0]) else " ↓")
                for c in columns
            }
            yield dataset, checkpoint, columns, header, rows


def write_markdown(report: Report, path: Path, figure_dir: str) -> None:
    lines = [f"# {report.title}", ""]
    for key, value in report.provenance.items():
        lines.append(f"- **{key}**: {value}")
    for note in report.notes:
        lines.append(f"- **note**: {note}")
    lines += [
        "",
        "Cells show mean ± std over seeds [95% bootstrap interval of the mean] #rank "
        "(by the metric's direction: ↑ higher is better, ↓ lower). Only completed runs are "
        "averaged; rows short of their seeds are marked incomplete and not ranked, and a metric "
        "missing for some seeds shows its n and is not ranked.",
        "",
    ]
    for dataset, checkpoint, columns, header, rows in _sections(report.table):
        title = (
            "final checkpoint"
            if checkpoint == "final"
            else "best checkpoint (selected on the test split)"
        )
        lines += [f"## {dataset}: {title}", ""]
        lines.append("| variant | seeds | " + " | ".join(header[c] for c in columns) + " |")
        lines.append("|---|---|" + "---|" * len(columns))
        for row in rows:
            cells = [str(row["variant"]).replace("|", "\\|"), row["seeds"]]
            cells += [row.get(c, "–") for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if report.figures:
        lines += ["## Figures", ""]
        for name, caption, _ in report.figures:
            lines += [f"![{caption}]({figure_dir}/{name}.png)", "", f"*{caption}*", ""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
th { background: #f0f0f0; }
td.incomplete { background: #fff4e0; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; font-size: 13px; }
dt { font-weight: 600; }
figure { display: inline-block; margin: 1em; }
figcaption { font-size: 12px; color: #555; }
"""


def write_html(report: Report, path: Path) -> None:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        "<dl>",
    ]
    for key, value in report.provenance.items():
        parts.append(f"<dt>{e(key)}</dt><dd>{e(str(value))}</dd>")
    for note in report.notes:
        parts.append(f"<dt>note</dt><dd>{e(note)}</dd>")
    parts.append("</dl>")
    parts.append(
        "<p>Cells show mean ± std over seeds [95% bootstrap interval of the mean] #rank "
        "(↑ higher is better, ↓ lower). Only completed runs are averaged; rows short of their "
        "seeds are marked incomplete and not ranked, and a metric missing for some seeds shows "
        "its n and is not ranked.</p>"
    )
    for dataset, checkpoint, columns, header, rows in _sections(report.table):
        title = (
            "final checkpoint"
            if checkpoint == "final"
            else "best checkpoint (selected on the test split)"
        )
        parts.append(f"<h2>{e(str(dataset))}: {e(title)}</h2><table><thead><tr>")
        parts.append("<th>variant</th><th>seeds</th>")
        parts += [f"<th>{e(header[c])}</th>" for c in columns]
        parts.append("</tr></thead><tbody>")
        for row in rows:
            css = ' class="incomplete"' if "incomplete" in row["seeds"] else ""
            parts.append(f"<tr><td>{e(str(row['variant']))}</td><td{css}>{e(row['seeds'])}</td>")
            parts += [f"<td>{e(row.get(c, '–'))}</td>" for c in columns]
            parts.append("</tr>")
        parts.append("</tbody></table>")
    if report.figures:
        parts.append("<h2>Figures</h2>")
        for name, caption, png in report.figures:
            data = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<figure id="{e(name)}"><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def write(report: Report, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    figure_dir = out_dir / "figures"
    figure_dir.mkdir(exist_ok=True)
    for name, _, png in report.figures:
        (figure_dir / f"{name}.png").write_bytes(png)
    csv = out_dir / "leaderboard.csv"
    report.table.to_csv(csv, index=False)
    md, page = out_dir / "leaderboard.md", out_dir / "leaderboard.html"
    write_markdown(report, md, "figures")
    write_html(report, page)
    return [md, page, csv]
