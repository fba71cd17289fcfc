"""Paper suites: published numbers stored beside a suite, validated, and shown by the report
next to the reproduced ones with the budget ratio and a verdict."""

import io
import math

import pytest
from conftest import REPO, suite_text

from harness import api
from harness.config import BudgetSpec, PublishedEntry, load_suite
from harness.report import published as published_module

PAPERS = REPO / "suites" / "papers"


def test_the_full_budget_pacgan_suite_equals_the_reduced_one_but_for_its_budget():
    reduced, full = (
        load_suite(PAPERS / "pacgan-2d.toml"),
        load_suite(PAPERS / "pacgan-2d-full.toml"),
    )
    assert full.budget.g_steps == 400_000 == full.published[0].budget_g_steps
    assert reduced.budget.g_steps < full.budget.g_steps
    same = {"datasets", "variants", "seeds", "evaluation", "published"}
    assert reduced.model_dump(include=same) == full.model_dump(include=same)


@pytest.mark.parametrize("path", sorted(PAPERS.glob("*.toml")), ids=lambda p: p.name)
def test_every_paper_suite_names_its_published_numbers_under_the_protocol_it_runs(path):
    from harness.evaluate import count_text, metric_base, split_key

    suite = load_suite(path)
    # A paper suite stores the published numbers beside it, or says why it cannot yet.
    assert suite.published or suite.published_missing
    kinds = {d.display_name: d.kind for d in suite.datasets}
    for entry in suite.published:
        assert metric_base(entry.metric) in (suite.evaluation.metrics or ()), entry.metric
        assert entry.source and (entry.budget_g_steps or entry.budget_kimg)
        # The sample count in the name is the suite's (mode counts: its mode_samples).
        counts = {suite.evaluation.num_samples, suite.evaluation.mode_samples} - {None}
        if kinds[entry.dataset] == "images":
            assert split_key(entry.metric)[1] in {count_text(c) for c in counts}
        assert entry.samples in (None, *counts)


def test_a_published_entry_naming_nothing_in_the_suite_is_one_line(write_suite):
    base = suite_text()
    for extra, fragment in (
        ('variant = "gna"\ndataset = "ring8"\nmetric = "modes_covered"', "published[0].variant"),
        ('variant = "gan"\ndataset = "ring"\nmetric = "modes_covered"', "published[0].dataset"),
        ('variant = "gan"\ndataset = "ring8"\nmetric = "mode_count"', "names no registered"),
    ):
        path = write_suite(base + f'\n[[published]]\n{extra}\nvalue = 1.0\nsource = "x"\n')
        err = io.StringIO()
        assert api.validate(str(path), out=io.StringIO(), err=err) == 2
        assert err.getvalue().count("\n") == 1 and fragment in err.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    "spread,mean,low,high,ratio,n,verdict",
    [
        (0.8, 17.0, 16.0, 18.0, 1.0, 3, "within the published spread"),
        (0.8, 15.0, 14.0, 16.0, 1.0, 3, "outside the published spread"),
        (None, 17.0, 16.0, 18.0, 1.0, 3, "within the reproduced interval"),
        (None, 15.0, 14.0, 16.0, 1.0, 3, "outside the reproduced interval"),
        (0.8, 17.3, 17.0, 17.6, 0.025, 3, "budget too small to compare"),
        (0.8, math.nan, math.nan, math.nan, math.nan, 0, "not reproduced yet"),
    ],
)
def test_verdicts(spread, mean, low, high, ratio, n, verdict):
    entry = PublishedEntry(
        variant="gan", dataset="grid", metric="modes_covered", value=17.3, spread=spread, source="x"
    )
    assert published_module._verdict(entry, mean, low, high, ratio, n) == verdict


def test_a_value_published_on_another_dataset_is_not_compared():
    import pandas as pd

    entry = PublishedEntry(
        variant="dcgan",
        dataset="stacked",
        metric="modes_covered_26k_cls",
        value=99,
        measured_on="stacked_mnist",
        source="x",
    )
    table = pd.DataFrame(
        [
            {
                "variant": "dcgan",
                "dataset": "stacked",
                "column": "modes_covered_26k_cls",
                "checkpoint": "final",
                "real": False,
                "mean": 120.0,
                "ci_low": 90.0,
                "ci_high": 140.0,
                "n": 3,
            }
        ]
    )

    def runs(name):
        row = {"variant": "dcgan", "dataset": "stacked", "status": "completed"}
        return pd.DataFrame([{**row, "dataset_name": name}] * 3)

    fallback = published_module.compare([entry], table, runs("stacked_digits"))
    assert fallback["verdict"].tolist() == ["reproduced on stacked_digits, not comparable"]
    same = published_module.compare([entry], table, runs("stacked_mnist"))
    assert same["verdict"].tolist() == ["within the reproduced interval"]


def test_the_stacked_mnist_suite_says_which_data_it_runs_on(tmp_path, monkeypatch):
    from conftest import write_mnist

    monkeypatch.setenv("HOME", str(tmp_path))  # the suite's root is ~/.cache/ganbench/datasets
    out = io.StringIO()
    assert api.validate(str(PAPERS / "stacked-mnist.toml"), out=out, err=io.StringIO()) == 0
    assert "dataset 'stacked': MNIST not found under" in out.getvalue()
    assert "using stacked_digits instead" in out.getvalue()
    (fallback,) = load_suite(PAPERS / "stacked-mnist.toml").datasets
    assert (fallback.name, fallback.display_name) == ("stacked_digits", "stacked")
    write_mnist(tmp_path / ".cache" / "ganbench" / "datasets", 30, 10)
    out = io.StringIO()
    assert api.validate(str(PAPERS / "stacked-mnist.toml"), out=out, err=io.StringIO()) == 0
    assert "dataset" not in out.getvalue().split("cells", 1)[1]
    (own,) = load_suite(PAPERS / "stacked-mnist.toml").datasets
    assert (own.name, own.fallback_reason) == ("stacked_mnist", "")


def test_the_report_of_a_paper_suite_puts_published_beside_reproduced(tmp_path):
    from harness.report.data import Source
    from harness.report.leaderboard import build, write
    from harness.runner import run_suite
    from harness.track.mlflow_tracker import tracking_uri

    suite = load_suite(PAPERS / "pacgan-2d.toml")
    small = [d.model_copy(update={"params": {**d.params, "size": 2000}}) for d in suite.datasets]
    suite = suite.model_copy(
        update={
            "seeds": [0],
            "datasets": small,
            "variants": [v for v in suite.variants if v.display_name in ("gan", "pacgan4")],
            "budget": BudgetSpec(g_steps=20, ticks=1),
            "published": [p for p in suite.published if p.variant in ("gan", "pacgan4")],
        }
    )
    outcome = run_suite(suite, tmp_path / "results", device="cpu", stream=io.StringIO())
    assert outcome.ok
    uri = tracking_uri(tmp_path / "results")
    report = build(
        Source(uri, experiment=suite.experiment), "t", with_figures=False, published=suite.published
    )
    rows = report.published.set_index(["variant", "dataset"])
    assert len(rows) == 3  # gan on ring and grid, pacgan4 on grid
    assert rows.loc[("pacgan4", "grid"), "published"] == 24.8
    assert rows.loc[("pacgan4", "grid"), "n"] == 1
    assert rows.loc[("pacgan4", "grid"), "budget_ratio"] == pytest.approx(20 / 400_000)
    assert set(rows["verdict"]) == {"budget too small to compare"}
    paths = write(report, tmp_path / "report")
    text = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "## Published beside reproduced" in text and "24.8 (10 runs, 2500 samples" in text
    assert (
        "<h2>Published beside reproduced</h2>" in (tmp_path / "report/leaderboard.html").read_text()
    )
    assert tmp_path / "report" / "published.csv" in paths
