"""``ganbench eval``: new metrics reach finished runs without retraining or duplicates."""

import io

from conftest import suite_text
from mlflow import MlflowClient

from harness import api
from harness.config import expand, load_suite

DATASETS = (
    '[[datasets]]\nname = "ring8"\nparams = { size = 2000, test_size = 500 }\n\n'
    '[[datasets]]\nname = "digits"\n'
)
VARIANTS = '[[variants]]\npreset = "dcgan"\nwidth = 16\nbatch_size = 32\nlatent_dim = 16\n'


def suite(metrics: str) -> str:
    return suite_text(
        name="rescore",
        datasets=DATASETS,
        variants=VARIANTS,
        budget="g_steps = 8\nticks = 2",
        evaluation=f"num_samples = 400\nmetrics = {metrics}",
    )


def test_eval_adds_new_metrics_to_the_same_runs_once(write_suite, tmp_path):
    before = write_suite(suite('["high_quality_fraction"]'), "before.toml")
    after = write_suite(suite('["high_quality_fraction", "modes_covered", "fid"]'), "after.toml")
    results = str(tmp_path / "results")
    assert api.run(str(before), results_dir=results, out=io.StringIO(), err=io.StringIO()) == 0
    assert [c.spec_hash for c in expand(load_suite(before))] == [
        c.spec_hash for c in expand(load_suite(after))
    ]

    out = io.StringIO()
    assert api.rescore(str(after), results_dir=results, out=out, err=io.StringIO()) == 0
    report = out.getvalue()
    assert "dcgan/ring8/seed=0: added" in report and "modes_covered" in report
    assert "fid_400_cls" in report and "modes_covered_400_cls" in report

    client = MlflowClient(f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ganbench/rescore")
    runs = {
        r.data.tags["dataset"]: r
        for r in client.search_runs([experiment.experiment_id])
        if "spec_hash" in r.data.tags  # cell runs, not the real-data rows
    }
    assert len(runs) == 2
    ring, digits = runs["ring8"], runs["digits"]
    assert {"modes_covered", "best/modes_covered", "high_quality_fraction"} <= set(
        ring.data.metrics
    )
    assert {"fid_400_cls", "modes_covered_400_cls"} <= set(digits.data.metrics)
    assert digits.data.tags["eval.extractor"].startswith("ganbench-digits-cls-")
    # high_quality_fraction was logged in training: once per tick, not again by eval
    assert len(client.get_metric_history(ring.info.run_id, "high_quality_fraction")) == 2

    again = io.StringIO()
    assert api.rescore(str(after), results_dir=results, out=again, err=io.StringIO()) == 0
    assert again.getvalue().count("added 0 (nothing new)") == 2
    assert len(client.get_metric_history(digits.info.run_id, "fid_400_cls")) == 1

    # adding metrics retrains nothing: every cell is skipped
    rerun = io.StringIO()
    assert api.run(str(after), results_dir=results, out=rerun, err=io.StringIO()) == 0
    assert rerun.getvalue().count("(skipped)") == 2


def test_eval_of_a_suite_that_never_ran_is_a_clear_error(write_suite, tmp_path):
    err = io.StringIO()
    code = api.rescore(
        str(write_suite(suite('["fid"]'))), results_dir=str(tmp_path), out=io.StringIO(), err=err
    )
    assert code == 2 and "no runs of suite 'rescore'" in err.getvalue()
