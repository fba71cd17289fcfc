"""``ganbench report``: leaderboard.md, a self-contained leaderboard.html and leaderboard.csv
under ``reports/<suite>/``, from the MLflow runs of a suite, an experiment or one invocation."""

from __future__ import annotations

import math
import platform
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from harness.report import figures, render
from harness.report.baseline import against_mle
from harness.report.data import (
    Source,
    client_for,
    latest_per_cell,
    load,
    load_real,
    runs_frame,
    search_all,
)
from harness.report.stats import leaderboard, real_rows

MAX_SAMPLE_GRIDS = 16  # per dataset


@dataclass
class Report:
    title: str
    provenance: dict[str, str]
    table: pd.DataFrame
    runs: pd.DataFrame
    figures: list[tuple[str, str, bytes]] = field(default_factory=list)  # (name, caption, png)
    notes: list[str] = field(default_factory=list)
    published: pd.DataFrame | None = None  # a paper suite's published numbers beside ours
    texts: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (heading, sentences)
    baselines: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # text GANs vs MLE


def build(
    source: Source,
    title: str,
    expected_seeds: dict[str, int] | None = None,
    spec_hashes: set[str] | None = None,
    with_figures: bool = True,
    published: list | None = None,
    published_missing: str | None = None,
) -> Report:
    runs = latest_per_cell(load(source))
    notes = [f"published numbers not stored: {published_missing}"] if published_missing else []
    if spec_hashes is not None and not runs.empty:
        stale = runs[~runs["spec_hash"].isin(spec_hashes)]
        if len(stale):
            notes.append(f"{len(stale)} run(s) of specs no longer in the suite file were left out")
        runs = runs[runs["spec_hash"].isin(spec_hashes)].reset_index(drop=True)
        missing = len(spec_hashes) - runs["spec_hash"].nunique()
        if missing:
            notes.append(f"{missing} cell(s) of the suite have no run yet (marked incomplete)")
    table = real_rows(leaderboard(runs, expected_seeds), load_real(source))
    report = Report(title, provenance(runs, source), table, runs, notes=notes)
    report.baselines = against_mle(runs)
    if published:
        from harness.report.published import compare

        report.published = compare(published, table, runs)
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
        sentences = sample_texts(client, in_dataset)
        if sentences is not None:
            heading = f"{dataset}: sample sentences at the last tick (first seed, temperature 1)"
            report.texts.append((heading, sentences))
    trials = study_trials(source)
    if trials is not None and len(trials):
        report.figures.append(
            (
                "studies",
                "Studies: best objective so far against trials",
                figures.best_so_far(trials, "studies"),
            )
        )


TEXT_SAMPLES = 5  # sentences shown per variant


def _final_samples(client, runs: pd.DataFrame, suffix: str):
    """(variant, local file) of the last ``samples/*<suffix>`` artifact of each variant's
    first completed seed, downloaded into a temporary folder the caller reads at once."""
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    done = runs[runs["status"] == "completed"].sort_values(["variant", "seed"])
    for variant, group in list(done.groupby("variant", sort=True))[:MAX_SAMPLE_GRIDS]:
        run_id = group["run_id"].iloc[0]
        try:
            listed = sorted(
                a.path for a in client.list_artifacts(run_id, "samples") if a.path.endswith(suffix)
            )
            if not listed:
                continue
            with tempfile.TemporaryDirectory() as folder:
                yield variant, client.download_artifacts(run_id, listed[-1], folder)
        except Exception:  # an artifact store we cannot read: leave the sample out
            continue


def sample_texts(client, runs: pd.DataFrame) -> pd.DataFrame | None:
    """The first sentences of each variant's last text sample (sequence datasets)."""
    rows = []
    for variant, local in _final_samples(client, runs, ".txt"):
        lines = Path(local).read_text(encoding="utf-8").splitlines()[:TEXT_SAMPLES]
        rows += [{"variant": str(variant), "sentence": line} for line in lines]
    return pd.DataFrame(rows) if rows else None


def sample_grid(client, runs: pd.DataFrame, dataset: str):
    """The final sample picture (fixed latent bank) of each variant's first seed, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    pictures = [
        (variant, mpimg.imread(local)) for variant, local in _final_samples(client, runs, ".png")
    ]
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


def write(report: Report, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    figure_dir = out_dir / "figures"
    figure_dir.mkdir(exist_ok=True)
    for name, _, png in report.figures:
        (figure_dir / render.figure_file(name)).write_bytes(png)
    csv = out_dir / "leaderboard.csv"
    report.table.to_csv(csv, index=False)
    written = []
    plain = []
    if report.published is not None:
        from harness.report.published import texts

        published_csv = out_dir / "published.csv"
        report.published.to_csv(published_csv, index=False)
        written.append(published_csv)
        plain.append(("Published beside reproduced", texts(report.published)))
    plain += report.baselines + report.texts
    md, page = out_dir / "leaderboard.md", out_dir / "leaderboard.html"
    parts = render.sections(report.table, report.runs)
    heading = (report.title, report.provenance, report.notes, parts, report.figures)
    md.write_text(render.markdown(*heading, "figures", plain), encoding="utf-8")
    page.write_text(render.html_page(*heading, plain), encoding="utf-8")
    return [md, page, csv, *written]
