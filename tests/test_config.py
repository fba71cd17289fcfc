"""Strict suite validation: one clear line, exit code 2, nothing written to any store."""

import io

import pytest
from conftest import REPO, run_cli, suite_text

from harness import api
from harness.config import expand, load_suite, parse_only, select

VALID = suite_text(
    variants='[[variants]]\npreset = "gan"\n\n[[variants]]\npreset = "wgan_gp"\nname = "wgp"\n'
    "d_steps = 3\ng_opt = { lr = 1e-3 }\n",
    seeds="[0, 1]",
)

MALFORMED = {
    "unknown top-level key": (
        VALID.replace('version = "1"', 'verison = "1"'),
        ["verison: unknown key", "allowed: name, version", "did you mean 'version'?"],
    ),
    "unknown variant key": (
        VALID.replace("d_steps = 3", "d_step = 3"),
        ["variants[1].d_step: unknown key", "did you mean 'd_steps'?"],
    ),
    "unknown optimizer key": (
        VALID.replace("g_opt = { lr = 1e-3 }", "g_opt = { lrate = 1e-3 }"),
        ["variants[1].g_opt.lrate: unknown key", "allowed: name, lr, betas"],
    ),
    "wrong type": (
        VALID.replace("kimg = 1", 'kimg = "ten"'),
        ["budget.kimg:", "valid number", "'ten'"],
    ),
    "variant typo": (
        VALID.replace('preset = "gan"', 'preset = "dcgna"'),
        [
            "variants[0].preset: unknown variant 'dcgna'",
            "allowed: biggan, biggan_studiogan, cgan, cogan, cogan_unshared, cyclegan, cyclegan_digits, dcgan",
            "did you mean 'dcgan'?",
        ],
    ),
    "loss typo": (
        VALID.replace("d_steps = 3", 'loss = "hinje"'),
        ["variants[1].loss: unknown loss 'hinje'", "did you mean 'hinge'?"],
    ),
    "empty seed list": (
        VALID.replace("seeds = [0, 1]", "seeds = []"),
        ["seeds:", "at least 1 item"],
    ),
    "negative budget": (VALID.replace("kimg = 1", "kimg = -1"), ["budget.kimg:", "greater than 0"]),
    "no budget": (VALID.replace("kimg = 1\n", ""), ["budget", "exactly one of kimg or g_steps"]),
    "dataset typo": (
        VALID.replace('name = "ring8"', 'name = "ring88"'),
        ["datasets[0].name: unknown dataset 'ring88'", "did you mean 'ring8'?"],
    ),
    "dataset param typo": (
        VALID.replace("size = 2000", "sise = 2000"),
        [
            "datasets[0]",
            "params.sise: unknown parameter of dataset 'ring8'",
            "did you mean 'size'?",
        ],
    ),
    "metric typo": (
        VALID.replace("num_samples = 500", 'metrics = ["modes_coverd"]'),
        ["evaluation.metrics", "unknown metric 'modes_coverd'", "did you mean 'modes_covered'?"],
    ),
    "architecture that does not fit": (
        VALID.replace("d_steps = 3", 'architecture = "dcgan"'),
        [
            "variants[1]",
            "architecture 'dcgan' does not fit points datasets",
            "allowed: maxout, mlp",
        ],
    ),
    "invalid toml": (VALID.replace('name = "t"', "name = "), ["invalid TOML"]),
    "two variants that are one cell": (
        VALID + '\n[[variants]]\npreset = "gan"\nname = "again"\n',
        ["variants[2]: 'again' resolves to the same configuration as 'gan'"],
    ),
    # Types are never coerced: TOML has them, and a wrong one is a mistake.
    "string for a number": (
        VALID.replace("kimg = 1", 'kimg = "100"'),
        ["budget.kimg:", "valid number", "'100'"],
    ),
    "string seeds": (VALID.replace("seeds = [0, 1]", 'seeds = ["0"]'), ["seeds[0]:", "integer"]),
    "float for an int": (
        VALID.replace("d_steps = 3", "d_steps = 3\nbatch_size = 64.0"),
        ["variants[1].batch_size:", "valid integer", "64.0"],
    ),
    "int for a bool": (
        VALID.replace("d_steps = 3", "d_steps = 3\nconditional = 1"),
        ["variants[1].conditional:", "valid boolean", "(got 1)"],
    ),
    "float dataset parameter for an int": (
        VALID.replace("size = 2000", "size = 2000.0"),
        ["datasets[0]", "params.size:", "valid integer", "2000.0"],
    ),
    "normalisation with no hidden layer to act on": (
        VALID.replace("d_steps = 3", 'normalization = "batch"\ndepth = 1'),
        ["variants[1]", "depth >= 2"],
    ),
    "packing a conditional variant": (
        VALID.replace("d_steps = 3", "d_steps = 3\nconditional = true\npack = 2"),
        ["variants[1]", "pack 2 packs unconditional samples", "allowed: pack = 1"],
    ),
    "pack below 1": (
        VALID.replace("d_steps = 3", "pack = 0"),
        ["variants[1].pack:", "greater than or equal to 1"],
    ),
    "a negative seed": (
        VALID.replace("seeds = [0, 1]", "seeds = [0, -1]"),
        ["seeds[1]:", "greater than or equal to 0", "(got -1)"],
    ),
    "a budget past any machine": (
        VALID.replace("kimg = 1\n", "kimg = 1e306\n"),
        ["budget.kimg:", "less than or equal to 1000000000", "1e+306"],
    ),
    "an image folder that does not exist": (
        VALID.replace(
            'name = "ring8"', 'name = "image_folder"\nparams = { root = "/nonexistent/imgs" }', 1
        ).replace("params = { size = 2000, test_size = 500 }\n", "", 1),
        ["datasets[0]: params.root: /nonexistent/imgs does not exist", "an existing folder"],
    ),
    "nightly tolerance typo": (
        VALID + "\n[nightly]\ntolerance = { fdi = 0.1 }\n",
        ["nightly.tolerance", "unknown metric 'fdi'", "did you mean 'fid'?"],
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_suite_gives_one_line_and_writes_nothing(case, write_suite, tmp_path):
    text, fragments = MALFORMED[case]
    path = write_suite(text)
    results = tmp_path / "results"
    err = io.StringIO()
    code = api.run(str(path), results_dir=str(results), out=io.StringIO(), err=err)
    message = err.getvalue()
    assert code == 2
    assert message.count("\n") == 1, message
    assert message.startswith(f"error: {path}: ")
    for fragment in fragments:
        assert fragment in message, message
    assert not results.exists()
    assert api.validate(str(path), out=io.StringIO(), err=io.StringIO()) == 2


def test_cli_exit_code_and_no_store_for_a_bad_suite(write_suite, tmp_path):
    path = write_suite(MALFORMED["variant typo"][0])
    results = tmp_path / "results"
    done = run_cli("run", path, results=results)
    assert done.returncode == 2
    assert "did you mean 'dcgan'?" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not results.exists()


def test_valid_suite_expands_to_the_matrix_with_overrides(write_suite):
    suite = load_suite(write_suite(VALID))
    cells = expand(suite)
    assert [c.cell_name for c in cells] == [
        "gan/ring8/seed=0",
        "gan/ring8/seed=1",
        "wgp/ring8/seed=0",
        "wgp/ring8/seed=1",
    ]
    wgp = cells[2].variant
    assert (wgp.preset, wgp.loss, wgp.penalty, wgp.penalty_weight) == (
        "wgan_gp",
        "wasserstein",
        "gradient_penalty",
        10.0,
    )
    assert wgp.d_steps == 3  # the suite's override
    assert wgp.g_opt.lr == 1e-3 and wgp.g_opt.betas == (0.0, 0.9)  # override merged on the preset
    assert wgp.d_opt.lr == 1e-4
    assert len({c.spec_hash for c in cells}) == 4


def test_spec_hash_ignores_cosmetics_but_not_settings(write_suite):
    base = expand(load_suite(write_suite(VALID)))[0].spec_hash
    renamed = VALID.replace('name = "t"', 'name = "other"').replace(
        '[[variants]]\npreset = "gan"', '[[variants]]\npreset = "gan"\nname = "plain"', 1
    )
    assert expand(load_suite(write_suite(renamed, "b.toml")))[0].spec_hash == base
    changed = VALID.replace("size = 2000", "size = 2001")
    assert expand(load_suite(write_suite(changed, "c.toml")))[0].spec_hash != base


def test_only_filter_selects_cells(write_suite):
    cells = expand(load_suite(write_suite(VALID)))
    assert [c.cell_name for c in select(cells, parse_only("variant=wgan_gp,seed=1"))] == [
        "wgp/ring8/seed=1"
    ]
    with pytest.raises(ValueError, match="did you mean 'seed'"):
        parse_only("sed=1")


@pytest.mark.parametrize("path", sorted((REPO / "suites").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_suites_are_valid(path):
    out = io.StringIO()
    assert api.validate(str(path), out=out, err=io.StringIO()) == 0
    assert "valid" in out.getvalue()


def test_a_variant_may_run_on_some_datasets_only(write_suite):
    text = suite_text(
        datasets='[[datasets]]\nname = "ring8"\n\n[[datasets]]\nname = "digits"\n'
        'label = "digits16"\nparams = { resolution = 16 }\n',
        variants='[[variants]]\npreset = "gan"\n\n[[variants]]\npreset = "sagan"\n'
        'datasets = ["digits16"]\n',
    )
    cells = expand(load_suite(write_suite(text)))
    assert sorted(c.cell_name for c in cells) == [
        "gan/digits16/seed=0",
        "gan/ring8/seed=0",
        "sagan/digits16/seed=0",
    ]
    # Without the restriction, the preset that does not fit points is a one-line error.
    path = write_suite(text.replace('datasets = ["digits16"]\n', ""), "unrestricted.toml")
    err = io.StringIO()
    assert api.validate(str(path), out=io.StringIO(), err=err) == 2
    assert "preset 'sagan' fits images datasets, not points" in err.getvalue()
    assert "datasets = [...]" in err.getvalue()
    typo = write_suite(text.replace('["digits16"]', '["digit16"]'), "typo.toml")
    err = io.StringIO()
    assert api.validate(str(typo), out=io.StringIO(), err=err) == 2
    assert "variants[1].datasets: 'digit16'" in err.getvalue()
    assert "did you mean 'digits16'?" in err.getvalue()


def test_a_fallback_dataset_is_checked_and_used_only_when_the_data_are_missing(
    write_suite, tmp_path
):
    from conftest import suite_text, write_mnist

    from harness.config import load_suite

    def datasets(root, fallback):
        return (
            f'[[datasets]]\nname = "mnist"\nlabel = "digits"\n'
            f'params = {{ root = "{root}", limit = 8 }}\nfallback = {fallback}\n'
        )

    good = '{ name = "digits", params = { resolution = 28 } }'
    path = write_suite(suite_text(datasets=datasets(tmp_path / "none", good)))
    (used,) = load_suite(path).datasets
    assert (used.name, used.display_name, used.params) == ("digits", "digits", {"resolution": 28})
    assert used.fallback_reason.startswith(f"MNIST not found under {tmp_path / 'none'}")
    write_mnist(tmp_path / "mnist", 8, 4)
    path = write_suite(suite_text(datasets=datasets(tmp_path / "mnist", good)))
    (own,) = load_suite(path).datasets
    assert (own.name, own.fallback_reason) == ("mnist", "")
    for fallback, fragment in (
        ('{ name = "ring8" }', "fallback.name: 'ring8' holds points, not images"),
        ('{ name = "digitz" }', "digitz"),
        ('{ name = "digits", params = { resolution = 7 } }', "params.resolution"),
    ):
        path = write_suite(suite_text(datasets=datasets(tmp_path / "mnist", fallback)))
        err = io.StringIO()
        assert api.validate(str(path), out=io.StringIO(), err=err) == 2
        assert err.getvalue().count("\n") == 1 and fragment in err.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    "content,fragment",
    [(b"\xff\xfe\x00\x01binary", "not a UTF-8 text file (byte 0)"), (None, "is a folder")],
    ids=["binary", "folder"],
)
def test_a_suite_path_that_is_not_text_is_one_line(content, fragment, tmp_path):
    path = tmp_path / "suite.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    err = io.StringIO()
    assert api.validate(str(path), out=io.StringIO(), err=err) == 2
    assert err.getvalue().count("\n") == 1 and fragment in err.getvalue(), err.getvalue()


def test_a_results_folder_that_cannot_be_written_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for command in (api.run, api.nightly):
        err = io.StringIO()
        code = command(
            str(REPO / "suites" / "smoke.toml"),
            results_dir=str(blocker / "results"),
            out=io.StringIO(),
            err=err,
        )
        assert code == 2
        assert err.getvalue().count("\n") == 1, err.getvalue()
        assert f"results folder {blocker / 'results'}: cannot write there" in err.getvalue()
    assert blocker.read_text() == "not a folder"
