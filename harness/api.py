"""The public functions behind each CLI subcommand; each returns the process exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from harness.config import SuiteError, expand, load_suite, parse_only, select

EXIT_OK, EXIT_CELLS_FAILED, EXIT_BAD_INPUT, EXIT_UNSENT = 0, 1, 2, 3


def _error(message: str, err: TextIO) -> int:
    print(f"error: {message}", file=err)
    return EXIT_BAD_INPUT


def _check_environment() -> None:
    from harness.train.seeding import cpu_threads

    try:
        cpu_threads()
    except ValueError as error:
        raise SuiteError(str(error)) from None


def _workers(value: str | int) -> int:
    from harness.executors import parse_workers

    try:
        return parse_workers(value)
    except ValueError as error:
        raise SuiteError(str(error)) from None


def _ray_available() -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise SuiteError("--executor ray: Ray is not installed (pip install 'ganbench[ray]')")


def _load(suite_path: str, only: str | None):
    """The suite, its ``--only`` filters and the selected cells; raises ``SuiteError``."""
    _check_environment()
    suite = load_suite(suite_path)
    filters = parse_only(only)
    return suite, filters, select(expand(suite), filters)


def _unwritable(results: Path) -> str | None:
    """Why nothing can be recorded under the results folder (None when a file can be written
    there): checked before the store is opened, so the error is one line, not a traceback.
    Creates nothing: it writes and removes one probe file in the nearest existing folder."""
    import os

    existing = Path(results).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    reason = None
    if not existing.is_dir():
        reason = f"{existing} is not a folder"
    else:
        probe = existing / f".ganbench-write-check-{os.getpid()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            reason = error.strerror or type(error).__name__
    if reason is None:
        return None
    return f"results folder {results}: cannot write there ({reason}); use --results-dir"


def _preflight(suite_path: str, suite, cells, results: Path, err: TextIO) -> int | None:
    """Check before any training that every cell's feature extractor can be had; the exit code
    of the one-line error when not."""
    from harness.evaluate import preflight
    from harness.evaluate.inception import MissingInceptionWeights
    from harness.runner import cache_root

    if (problem := _unwritable(results)) is not None:
        return _error(problem, err)
    try:
        preflight(suite, cells, cache_root(results))
    except (MissingInceptionWeights, ValueError) as error:
        return _error(f"{suite_path}: {error}", err)
    return None


def run(
    suite_path: str,
    only: str | None = None,
    dry_run: bool = False,
    device: str = "auto",
    results_dir: str | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    workers: str | int = 1,
    executor: str = "local",
    address: str | None = None,
) -> int:
    """Validate the suite, then run it (or print its matrix with ``dry_run``); ``workers``
    local processes (a number or ``auto``) run cells side by side, or with ``executor="ray"``
    one Ray task per cell (on the cluster at ``address``, else a local one)."""
    from harness.runner import read_state, results_root, run_dir_of

    try:
        suite, filters, cells = _load(suite_path, only)
        workers = _workers(workers)
        if executor == "ray":
            _ray_available()
        elif address:
            raise SuiteError("--address is for --executor ray")
    except SuiteError as error:
        return _error(str(error), err)
    if not cells:
        return _error(f"--only {only}: no cell of {suite_path} matches", err)
    results = results_root(results_dir)
    say_fallbacks(suite, err)
    if dry_run:
        print(f"{suite.name} v{suite.version}: {len(cells)} cells, results in {results}", file=out)
        for cell in cells:
            state = read_state(run_dir_of(cell, results)).get("status", "new")
            print(f"  {cell.spec_hash}  {cell.cell_name:<40} {state}", file=out)
        return EXIT_OK

    from harness.progress import summary_table
    from harness.runner import run_suite

    if (code := _preflight(suite_path, suite, cells, results, err)) is not None:
        return code
    try:
        outcome = run_suite(
            suite,
            results,
            device=device,
            only=filters,
            stream=err,
            workers=workers,
            executor=executor,
            address=address,
        )
    except RuntimeError as error:  # e.g. --device cuda without CUDA
        return _error(str(error), err)
    print(summary_table(outcome.results, outcome.real), file=out)
    if outcome.unsent:
        print(
            f"error: the tracking server did not come back: {outcome.unsent} records wait in "
            f"{results / 'journal'}; the next ganbench run on this results folder sends them",
            file=err,
        )
        return EXIT_UNSENT
    return EXIT_OK if outcome.ok else EXIT_CELLS_FAILED


def rescore(
    suite_path: str,
    only: str | None = None,
    run_id: str | None = None,
    device: str = "auto",
    results_dir: str | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Re-score finished cells' checkpoints with the suite's current metrics."""
    from harness.runner import results_root

    try:
        suite, filters, _ = _load(suite_path, only)
    except SuiteError as error:
        return _error(str(error), err)
    results = results_root(results_dir)
    if not (results / "runs" / suite.name).is_dir():
        return _error(f"{suite_path}: no runs of suite '{suite.name}' under {results}", err)
    from harness.rescore import rescore_suite

    outcomes = rescore_suite(suite, results, device, filters, run_id)
    if not outcomes:
        return _error(
            f"no cell of {suite_path} matches" + (f" run {run_id}" if run_id else ""), err
        )
    for outcome in outcomes:
        if outcome.reason:
            print(f"{outcome.cell.cell_name}: skipped, {outcome.reason}", file=out)
        else:
            added = ", ".join(sorted(outcome.added)) or "nothing new"
            print(
                f"{outcome.cell.cell_name}: added {len(outcome.added)} ({added}); "
                f"{outcome.kept} already there",
                file=out,
            )
    return EXIT_OK if all(not o.reason for o in outcomes) else EXIT_CELLS_FAILED


def study(
    suite_path: str,
    workers: int = 1,
    storage: str | None = None,
    device: str = "auto",
    results_dir: str | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run the suite's [study] (its workers are ``python -m harness.study`` processes)."""
    from harness.runner import results_root

    try:
        _check_environment()
        suite = load_suite(suite_path)
    except SuiteError as error:
        return _error(str(error), err)
    if suite.study is None:
        return _error(f"{suite_path}: study: the suite has no [study] block", err)
    if workers < 1:
        return _error(f"--workers {workers}: must be at least 1", err)
    results = results_root(results_dir)
    results.mkdir(parents=True, exist_ok=True)
    from harness import study as studies

    storage = storage or studies.default_storage(results)
    try:
        cells = expand(studies.trial_suite(suite, {}))
        if (code := _preflight(suite_path, suite, cells, results, err)) is not None:
            return code
        outcomes = studies.run_study(suite, suite_path, results, storage, workers, device, err)
    except studies.StudyError as error:
        return _error(str(error), err)
    # Exit 1 when a phase fell short of its size (time cap, dead workers) or found nothing.
    short = [o for o in outcomes if not o.complete or o.counts.get("complete", 0) == 0]
    return EXIT_CELLS_FAILED if short else EXIT_OK


def report(
    suite_path: str | None = None,
    experiment: str | None = None,
    run_id: str | None = None,
    tracking_uri: str | None = None,
    results_dir: str | None = None,
    out_dir: str | None = None,
    figures: bool = True,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Write leaderboard.md/.html/.csv for a suite, an experiment or one invocation."""
    import re

    from harness.runner import results_root
    from harness.track.mlflow_tracker import tracking_uri as default_uri

    given = [x for x in (suite_path, experiment, run_id) if x]
    if len(given) != 1:
        return _error("report: give exactly one of SUITE, --experiment or --run-id", err)
    uri = tracking_uri or default_uri(results_root(results_dir))
    from harness.report.data import Source
    from harness.report.leaderboard import build, write

    expected = hashes = published = published_missing = None
    if suite_path:
        try:
            suite = load_suite(suite_path)
        except SuiteError as error:
            return _error(str(error), err)
        source = Source(uri, experiment=suite.experiment, suite=suite.name)
        cells = expand(suite)
        hashes = {c.spec_hash for c in cells}
        expected = {d.display_name: len(suite.seeds) for d in suite.datasets}
        name, title = suite.name, f"{suite.name} v{suite.version} leaderboard"
        published, published_missing = suite.published, suite.published_missing
    elif experiment:
        source = Source(uri, experiment=experiment)
        name, title = re.sub(r"[^A-Za-z0-9_.-]+", "-", experiment), f"{experiment} leaderboard"
    else:
        source = Source(uri, parent_run_id=run_id)
        name, title = f"run-{run_id}", f"invocation {run_id} leaderboard"
    try:
        built = build(
            source,
            title,
            expected,
            hashes,
            with_figures=figures,
            published=published,
            published_missing=published_missing,
        )
    except LookupError as error:
        return _error(str(error.args[0]), err)
    except Exception as error:  # an unreachable server, an unknown run id
        return _error(f"report: {uri}: {type(error).__name__}: {error}".splitlines()[0], err)
    if built.runs.empty and not built.figures:
        return _error(f"report: no cell or study runs found ({title}) in {uri}", err)
    written = write(built, Path(out_dir) if out_dir else Path("reports") / name)
    for path in written:
        print(path, file=out)
    return EXIT_OK


def nightly(
    suite_path: str,
    baseline: str | None = None,
    update_baseline: bool = False,
    device: str = "auto",
    results_dir: str | None = None,
    reports_dir: str = "reports",
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    workers: str | int = 1,
) -> int:
    """Run the suite afresh, compare with the baseline, write reports/<suite>/nightly-<date>.*;
    exit 1 when a cell regressed or failed."""
    from harness.runner import results_root

    try:
        suite, _, cells = _load(suite_path, None)
        workers = _workers(workers)
    except SuiteError as error:
        return _error(str(error), err)
    if baseline and not Path(baseline).is_file() and "=" not in baseline:
        import re

        if not re.fullmatch(r"[0-9a-f]{32}", baseline):
            return _error(
                f"--baseline {baseline}: not a file, a tag=value or an MLflow run id "
                "(32 hex digits)",
                err,
            )
    results = results_root(results_dir)
    from harness.nightly import run_nightly

    if (code := _preflight(suite_path, suite, cells, results, err)) is not None:
        return code
    try:
        code, comparisons, written, verdict, base, run = run_nightly(
            suite, results, device, baseline, update_baseline, Path(reports_dir), err, workers
        )
    except LookupError as error:
        return _error(str(error.args[0]), err)
    for comparison in comparisons:
        if comparison.verdict != "unchanged":
            print(f"{comparison.verdict:>9}  {comparison.variant} / {comparison.dataset}", file=out)
    print(f"nightly {suite.name}: {verdict} (run {run}, baseline: {base})", file=out)
    for path in written:
        print(path, file=out)
    return code


def validate(suite_path: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Check a suite without running anything; print its size when valid."""
    try:
        suite = load_suite(suite_path)
        cells = expand(suite)
    except SuiteError as error:
        return _error(str(error), err)
    shape = f"{len(suite.variants)} variants × {len(suite.datasets)} datasets × {len(suite.seeds)} seeds"
    if any(v.datasets is not None for v in suite.variants):
        shape = (
            f"{len(suite.variants)} variants on {len(suite.datasets)} datasets (some on some "
            f"datasets only) × {len(suite.seeds)} seeds"
        )
    print(
        f"{suite_path}: valid: suite '{suite.name}' v{suite.version}, {shape} = {len(cells)} cells",
        file=out,
    )
    say_fallbacks(suite, out)
    if suite.published_missing:
        print(f"published numbers not stored: {suite.published_missing}", file=out)
    return EXIT_OK


def say_fallbacks(suite, stream: TextIO) -> None:
    """One line per dataset that runs on its fallback, saying which data and why."""
    for dataset in suite.datasets:
        if dataset.fallback_reason:
            print(f"dataset '{dataset.display_name}': {dataset.fallback_reason}", file=stream)


def list_entries(kind: str, suites_dir: str = "suites", out: TextIO = sys.stdout) -> int:
    """Print the registered variants, datasets or metrics, or the suites in a folder."""
    if kind == "suites":
        import tomllib

        paths = sorted(Path(suites_dir).glob("*.toml"))
        if not paths:
            print(f"no suites in {suites_dir}/", file=out)
        for path in paths:
            try:
                description = tomllib.loads(path.read_text()).get("description", "")
            except tomllib.TOMLDecodeError:
                description = "(invalid TOML)"
            print(f"{str(path):<32} {description}", file=out)
        return EXIT_OK
    from harness.data import DATASETS
    from harness.evaluate import METRICS
    from harness.variants import PRESETS

    registry = {"variants": PRESETS, "datasets": DATASETS, "metrics": METRICS}[kind]
    for entry in registry:
        extra = ""
        if kind == "metrics":
            direction = "higher is better" if entry.meta["higher_is_better"] else "lower is better"
            needs = " | ".join("+".join(sorted(n)) for n in entry.meta["needs"])
            extra = f"[{direction}; needs {needs}] "
        elif kind == "datasets":
            extra = f"[{entry.meta['kind']}] "
        print(f"{entry.name:<22} {extra}{entry.doc}", file=out)
    return EXIT_OK
