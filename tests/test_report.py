"""Leaderboard reports and nightly regression runs, on real MLflow SQLite stores."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

SUITE = """name = "rep"
version = "3"
seeds = [0, 1]

[[datasets]]
name = "ring8"
params = {{ size = 2000, test_size = 500 }}

[[datasets]]
name = "digits"

[[variants]]
preset = "gan"
name = "{gan_name}"
width = 16

[[variants]]
preset = "dcgan"
width = 8

[budget]
kimg = 1
ticks = 2

[evaluation]
metrics = ["energy_distance", "modes_covered", "high_quality_fraction", "fid", "precision"]
num_samples = 300
"""


def mlflow_frame(results: Path, experiment: str) -> pd.DataFrame:
    """The cell runs, read independently of the report code: MlflowClient → pandas, with the
    columns ``mlflow.search_runs`` would give (no global tracking URI is set in-process)."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    found = client.get_experiment_by_name(experiment)
    rows = []
    for run in client.search_runs([found.experiment_id], max_results=10000):
        if "spec_hash" not in run.data.tags:
            continue
        # Each metric's value at the run's last step (a value from an earlier step is stale).
        last = max(m.step for m in client.get_metric_history(run.info.run_id, "images_seen"))
        metrics = {}
        for key in run.data.metrics:
            at_last = [
                m.value for m in client.get_metric_history(run.info.run_id, key) if m.step == last
            ]
            metrics[f"metrics.{key}"] = at_last[-1] if at_last else math.nan
        rows.append({**{f"tags.{k}": v for k, v in run.data.tags.items()}, **metrics})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def partial_run(tmp_path_factory):
    """The suite run with one cell missing a seed: 'dcgan' on digits has only seed 0."""
    root = tmp_path_factory.mktemp("report")
    suite = root / "rep.toml"
    suite.write_text(SUITE.format(gan_name="gan <script>alert(1)</script>"))
    results = root / "results"
    first = run_cli("run", suite, "--only", "seed=0", results=results, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_cli("run", suite, "--only", "seed=1,dataset=ring8", results=results, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    third = run_cli("run", suite, "--only", "seed=1,variant=gan,dataset=digits", results=results)
    assert third.returncode == 0, third.stderr[-2000:]
    out = root / "report"
    made = run_cli("report", suite, "--out", out, results=results, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    return suite, results, out


def bootstrap(values: np.ndarray) -> tuple[float, float]:
    from scipy.stats import bootstrap as scipy_bootstrap

    if len(values) < 2:
        return math.nan, math.nan
    if np.all(values == values[0]):
        return values[0], values[0]
    result = scipy_bootstrap(
        (values,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(0)
    )
    return result.confidence_interval.low, result.confidence_interval.high


def test_every_number_in_the_leaderboard_equals_a_pandas_recomputation(partial_run):
    _, results, out = partial_run
    for name in ("leaderboard.md", "leaderboard.html", "leaderboard.csv"):
        assert (out / name).stat().st_size > 0
    table = pd.read_csv(out / "leaderboard.csv")
    runs = mlflow_frame(results, "ganbench/rep")
    done = runs[runs["tags.status"] == "completed"]
    checked = 0
    for (variant, dataset), group in done.groupby(["tags.variant", "tags.dataset"]):
        for column in [c for c in group.columns if c.startswith("metrics.")]:
            key = column.removeprefix("metrics.")
            base = key.removeprefix("best/").split("_")[0]
            if base not in ("energy", "modes", "high", "fid", "precision"):
                continue
            values = group[column].dropna().to_numpy(dtype=float)
            if len(values) == 0:  # a metric of the other dataset
                continue
            checkpoint = "best" if key.startswith("best/") else "final"
            row = table[
                (table["variant"] == variant)
                & (table["dataset"] == dataset)
                & (table["checkpoint"] == checkpoint)
                & (table["column"] == key.removeprefix("best/"))
            ]
            assert len(row) == 1, (variant, dataset, key)
            row = row.iloc[0]
            assert row["n"] == len(values)
            assert row["mean"] == pytest.approx(values.mean(), rel=1e-12, abs=1e-15)
            if len(values) > 1:
                assert row["std"] == pytest.approx(values.std(ddof=1), rel=1e-12, abs=1e-15)
                low, high = bootstrap(values)
                assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-12)
            checked += 1
    assert checked >= 16
    # The incomplete cell is marked, never ranked; the complete ones are ranked by direction.
    dcgan_digits = table[(table["variant"] == "dcgan") & (table["dataset"] == "digits")]
    assert (~dcgan_digits["complete"]).all() and dcgan_digits["rank"].isna().all()
    fid = table[(table["dataset"] == "ring8") & (table["column"] == "energy_distance")]
    fid = fid[fid["checkpoint"] == "final"]
    real = fid[fid["real"]]  # the held-out real data, scored alike, never ranked
    assert len(real) == 1 and real["rank"].isna().all() and real["mean"].iloc[0] < 0.05
    fid = fid[~fid["real"]].sort_values("mean")
    assert list(fid["rank"]) == [1, 2]  # lower energy distance ranks first
    markdown = (out / "leaderboard.md").read_text()
    assert "1/2 ⚠ incomplete" in markdown
    for _, row in table[table["complete"]].iterrows():
        assert f"{row['mean']:.4g}" in markdown
    # Protocols stay apart: classifier features and sample count are in the column names.
    assert {"fid_300_cls", "precision_300_cls"} <= set(table["column"])
    assert "distinct spec hashes**: 7" in markdown and "suite version**: 3" in markdown


def test_a_report_of_a_missing_experiment_is_one_clear_line(tmp_path):
    result = run_cli("report", "--experiment", "nope", results=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: no MLflow experiment 'nope' in sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    )


def test_the_html_report_renders_in_headless_chromium_with_names_escaped(partial_run, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    _, _, out = partial_run
    page = (out / "leaderboard.html").resolve()
    text = page.read_text()
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert "gan &lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout
    shot = tmp_path / "shot.png"
    shown = subprocess.run(
        [
            *flags,
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,3000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    console = [line for line in shown.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    from PIL import Image

    image = np.asarray(Image.open(shot).convert("RGB"))
    # Table borders and text near the top, and the embedded figures' colours further down.
    top, rest = image[:700], image[700:]
    assert (top.min(axis=2) < 128).mean() > 0.005
    coloured = (rest.max(axis=2).astype(int) - rest.min(axis=2)) > 60  # plot lines, markers
    assert coloured.sum() > 1500, "no figure colours in the screenshot"
    shutil.copy(shot, out / "screenshot.png")  # kept beside the report for a human to look at


NIGHTLY = """name = "nt"
seeds = [0, 1, 2]

[[datasets]]
name = "ring8"
params = {{ size = 2000, test_size = 500 }}

[[variants]]
preset = "wgan_gp"
name = "steady"
width = 32
g_opt = {{ lr = 0.002 }}
d_opt = {{ lr = 0.002 }}

[[variants]]
preset = "wgan_gp"
name = "fragile"
width = 24
g_opt = {{ lr = {lr} }}
d_opt = {{ lr = {lr} }}

[budget]
kimg = 4
ticks = 2

[evaluation]
metrics = ["energy_distance", "modes_covered"]
num_samples = 500
"""


def test_nightly_twice_is_quiet_and_a_broken_variant_is_flagged(tmp_path):
    suite = tmp_path / "nt.toml"
    suite.write_text(NIGHTLY.format(lr=0.002))
    results, reports = tmp_path / "results", tmp_path / "reports"
    args = ("--reports-dir", reports)
    first = run_cli("nightly", suite, *args, results=results, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "baseline: none: this is the first nightly run" in first.stdout
    second = run_cli("nightly", suite, *args, results=results, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:] + second.stdout
    assert "nightly nt: passed" in second.stdout and "regressed" not in second.stdout
    report = next((reports / "nt").glob("nightly-*.md")).read_text()
    assert "| steady | ring8 | unchanged |" in report
    assert "| fragile | ring8 | unchanged |" in report

    suite.write_text(NIGHTLY.format(lr=0.2))  # 100x the learning rate for one variant
    third = run_cli("nightly", suite, *args, results=results, timeout=600)
    assert third.returncode == 1, third.stderr[-2000:] + third.stdout
    flagged = [line.split() for line in third.stdout.splitlines() if "/ ring8" in line]
    assert [line[:2] for line in flagged] == [["regressed", "fragile"]]
    page = next((reports / "nt").glob("nightly-*.html")).read_text()
    assert "regressed" in page and "steady" in page

    # The regressed run does not become the baseline: a fixed suite compares with run two.
    suite.write_text(NIGHTLY.format(lr=0.002))
    fourth = run_cli("nightly", suite, *args, "--update-baseline", results=results, timeout=600)
    assert fourth.returncode == 0, fourth.stdout
    second_run = second.stdout.split("(run ")[1][:32]
    assert f"baseline: nightly run {second_run}" in fourth.stdout
    pinned = json.loads((reports / "nt" / "baseline.json").read_text())
    assert len(pinned["cells"]) == 6 and pinned["suite"] == "nt"
    fifth = run_cli(
        "nightly", suite, *args, "--baseline", reports / "nt" / "baseline.json", results=results
    )
    assert fifth.returncode == 0 and "pinned file" in fifth.stdout


def test_a_metric_undefined_at_the_last_step_is_undefined_not_stale(tmp_path):
    """reverse_kl logged at an earlier tick only (no high-quality sample at the end) must not
    reach the table with the value MLflow keeps as "latest"."""
    from harness.report.data import Source, load
    from harness.report.stats import leaderboard
    from harness.track.mlflow_tracker import MlflowTracker, tracking_uri

    tracker = MlflowTracker(tmp_path, "stale")
    for seed, last_kl in ((0, None), (1, 0.5)):
        tags = {"spec_hash": f"h{seed}", "variant": "v", "dataset": "ring8", "seed": seed}
        tags |= {"suite": "s", "status": "completed", "eval.metrics": "modes_covered,reverse_kl"}
        run = tracker.start_run(f"v/{seed}", tags)
        tracker.log_params(run, {"dataset_kind": "points"})
        tracker.log_metrics(run, {"images_seen": 100, "modes_covered": 3, "reverse_kl": 2.0}, 100)
        final = {"images_seen": 200, "modes_covered": 1}
        tracker.log_metrics(run, final | ({"reverse_kl": last_kl} if last_kl else {}), 200)
        tracker.end(run, "completed")
    table = leaderboard(load(Source(tracking_uri(tmp_path), experiment="stale")))
    kl = table[table["column"] == "reverse_kl"].iloc[0]
    assert (kl["n"], kl["mean"], bool(kl["complete"])) == (1, 0.5, False)
    modes = table[table["column"] == "modes_covered"].iloc[0]
    assert (modes["n"], modes["mean"]) == (2, 1.0)


def test_figures_of_labels_with_slashes_are_written_inside_the_figures_folder(tmp_path):
    """A dataset label is free text: '/' or spaces in it must not become folders or break
    the Markdown links (figure files get a safe name and a hash of the label)."""
    import re

    import pandas as pd

    from harness.report.leaderboard import Report, write
    from harness.report.stats import leaderboard

    png = b"\x89PNG\r\n\x1a\n"
    figures = [
        ("curves-ring/8", "ring/8: curves", png),
        ("curves-ring 8", "ring 8: curves", png),
        ("curves-ring8", "ring8: curves", png),
    ]
    report = Report("t", {}, leaderboard(pd.DataFrame()), pd.DataFrame(), figures)
    write(report, tmp_path / "out")
    files = sorted(p.name for p in (tmp_path / "out" / "figures").iterdir())
    assert len(files) == 3 and "curves-ring8.png" in files
    assert not any(p.is_dir() for p in (tmp_path / "out" / "figures").iterdir())
    links = re.findall(r"\]\(figures/([^)]+)\)", (tmp_path / "out" / "leaderboard.md").read_text())
    assert sorted(links) == files
