import subprocess
import sys

import pytest

from harness.registry import Registry, UnknownNameError


def test_lookup_suggests_the_closest_name():
    registry = Registry("loss")
    registry.register("hinge", object())
    registry.register("wasserstein", object())
    with pytest.raises(UnknownNameError) as info:
        registry.get("wasserstien")
    message = str(info.value)
    assert "unknown loss 'wasserstien'" in message
    assert "allowed: hinge, wasserstein" in message
    assert "did you mean 'wasserstein'?" in message


def test_lazy_entries_import_on_first_use_only():
    registry = Registry("thing")
    registry.register("join", "os.path:join", doc="joins paths")
    assert registry.entry("join").target == "os.path:join"
    import os.path

    assert registry.get("join") is os.path.join
    assert registry.entry("join").doc == "joins paths"


def test_duplicate_registration_is_refused():
    registry = Registry("thing")
    registry.register("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", 2)


def test_import_and_help_do_not_load_heavy_libraries():
    code = (
        "import sys, harness, harness.cli, harness.config, harness.variants, harness.data, "
        "harness.evaluate\n"
        "harness.cli.build_parser().format_help()\n"
        "print(sorted(m for m in ('torch', 'mlflow', 'optuna') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_metrics_apply_exactly_where_what_they_need_is_offered(write_suite):
    import io

    from conftest import suite_text

    from harness import api
    from harness.evaluate import METRICS, metric_applies, register_metric

    cases = {  # (metric, dataset, kind, extractor) → applies
        ("high_quality_fraction", "ring8", "points", "classifier"): True,
        ("high_quality_fraction", "digits", "images", "classifier"): False,
        ("modes_covered", "grid25", "points", "classifier"): True,
        ("modes_covered", "digits", "images", "inception"): True,  # the classifier counts modes
        ("modes_covered", "image_folder", "images", "inception"): False,  # no classifier there
        ("fid", "image_folder", "images", "inception"): True,
        ("fid", "image_folder", "images", "classifier"): False,
        ("fid", "ring8", "points", "classifier"): False,
        ("label_agreement_digit", "stacked_digits", "images", "classifier"): True,
        ("label_agreement_digit", "digits", "images", "classifier"): False,  # one label factor
    }
    for (metric, dataset, kind, extractor), applies in cases.items():
        assert metric_applies(metric, dataset, kind, extractor) is applies, (metric, dataset)
    # A declaration naming a capability nobody offers is refused at registration.
    with pytest.raises(ValueError, match="unknown capabilities"):
        register_metric(
            "x", "m:f", higher_is_better=True, needs=(frozenset({"telepathy"}),), doc=""
        )
    assert "x" not in METRICS
    # A suite asking for a metric none of its datasets can give is told what it needs.
    path = write_suite(suite_text(evaluation='metrics = ["fid"]'))
    err = io.StringIO()
    assert api.validate(str(path), out=io.StringIO(), err=err) == 2
    assert "'fid' applies to none of this suite's datasets (it needs image features" in (
        err.getvalue()
    )
