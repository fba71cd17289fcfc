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
