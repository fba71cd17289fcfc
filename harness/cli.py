"""Command-line interface: argument parsing only; each subcommand calls one public function."""

from __future__ import annotations

import argparse

LIST_KINDS = ("variants", "datasets", "metrics", "suites")
WORKERS_HELP = (
    "cells side by side in N local processes, one torch thread each, same numbers "
    "(default 1; 'auto': one per core)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganbench", description="Train, score and track GAN variants declared in suite files."
    )
    from harness import __version__

    parser.add_argument("--version", action="version", version=f"ganbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run every cell of a suite (skips finished, resumes interrupted)"
    )
    run.add_argument("suite", help="path to a suite TOML file")
    run.add_argument("--only", metavar="FILTER", action="append", help=ONLY_HELP)
    run.add_argument("--dry-run", action="store_true", help="print the expanded matrix and exit")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    run.add_argument(
        "--results-dir",
        metavar="DIR",
        help="results root (default: $GANBENCH_RESULTS or ./results)",
    )
    run.add_argument("--workers", default="1", help=WORKERS_HELP)
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: in-process, or --workers processes (default); ray: one Ray task per cell",
    )
    run.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="with --executor ray: an existing Ray cluster (default: start a local one on "
        "127.0.0.1 with --workers CPUs)",
    )

    rescore = commands.add_parser(
        "eval", help="re-score finished cells' checkpoints with the suite's current metrics"
    )
    rescore.add_argument("suite")
    rescore.add_argument("--only", metavar="FILTER", action="append", help=ONLY_HELP)
    rescore.add_argument("--run-id", help="re-score only the cell of this MLflow run")
    rescore.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    rescore.add_argument("--results-dir", metavar="DIR")

    study = commands.add_parser(
        "study", help="run the suite's [study]: an Optuna search over run_one (resumable)"
    )
    study.add_argument("suite", help="path to a suite TOML file with a [study] block")
    study.add_argument(
        "--workers", type=int, default=1, help="worker processes on this machine (default 1)"
    )
    study.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage: sqlite:///FILE, postgresql://USER@HOST/DB or journal:FILE "
        "(default: sqlite:///<results>/optuna.db)",
    )
    study.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    study.add_argument("--results-dir", metavar="DIR")

    report = commands.add_parser(
        "report", help="leaderboard.md/.html/.csv from the MLflow runs of a suite"
    )
    report.add_argument("suite", nargs="?", help="a suite file (its experiment and cells)")
    report.add_argument("--experiment", help="every cell run of this MLflow experiment")
    report.add_argument("--run-id", help="the cells of one invocation's parent run")
    report.add_argument(
        "--tracking-uri",
        help="MLflow store or server (default: $MLFLOW_TRACKING_URI or the results store)",
    )
    report.add_argument("--results-dir", metavar="DIR")
    report.add_argument("--out", metavar="DIR", help="output folder (default: reports/<suite>)")
    report.add_argument("--no-figures", action="store_true", help="tables only (faster)")

    nightly = commands.add_parser(
        "nightly",
        help="run a suite afresh and compare every cell with a baseline (exit 1 on regression)",
    )
    nightly.add_argument("suite")
    nightly.add_argument(
        "--baseline",
        help="a nightly parent run id, a tag=value, or a pinned baseline file "
        "(default: the latest earlier nightly run that passed or was promoted)",
    )
    nightly.add_argument(
        "--update-baseline",
        action="store_true",
        help="promote this run to baseline and write reports/<suite>/baseline.json",
    )
    nightly.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    nightly.add_argument("--results-dir", metavar="DIR")
    nightly.add_argument("--reports-dir", metavar="DIR", default="reports")
    nightly.add_argument("--workers", default="1", help=WORKERS_HELP)

    validate = commands.add_parser("validate", help="check a suite file without running it")
    validate.add_argument("suite")

    ls = commands.add_parser("ls", help="list registered variants, datasets, metrics, or suites")
    ls.add_argument("kind", choices=LIST_KINDS)
    ls.add_argument("--dir", default="suites", help="folder of suites for 'ls suites'")
    return parser


ONLY_HELP = (
    "cells to run, e.g. variant=dcgan,dataset=digits,seed=0; repeat it or join with commas: "
    "a cell must match every key given, and any one of the values given for a key"
)


def _only(filters: list[str] | None) -> str | None:
    """Repeated ``--only`` options as one filter (what joining them with commas gives)."""
    return ",".join(filters) if filters else None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import sys

    from harness.stopping import Terminated, raise_on_sigterm
    from harness.track.journal import TrackingUnavailable
    from harness.track.store import StoreError, out_of_space

    raise_on_sigterm()  # a kill stops cleanly, as Ctrl-C does: runs closed, workers stopped
    try:
        return _dispatch(args)
    except Terminated:
        print("ganbench: terminated; re-run the same command to resume", file=sys.stderr)
        return 143
    except StoreError as error:  # an unusable MLflow store, from any command: one line
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrackingUnavailable as error:  # what could not be sent stays in the journal
        print(
            f"error: {error}; the next ganbench run on this results folder sends it",
            file=sys.stderr,
        )
        return 3
    except Exception as error:
        if not out_of_space(error):
            raise
        from harness.runner import results_root

        where = results_root(getattr(args, "results_dir", None))
        print(
            f"error: {error} (the disk under {where} is full); free some space and re-run: "
            "finished cells are kept and an interrupted cell resumes from its last checkpoint",
            file=sys.stderr,
        )
        return 2
    except BrokenPipeError:  # e.g. `ganbench ls variants | head -1`: not an error
        import os
        import sys

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    from harness import api

    if args.command == "run":
        return api.run(
            args.suite,
            _only(args.only),
            args.dry_run,
            args.device,
            args.results_dir,
            workers=args.workers,
            executor=args.executor,
            address=args.address,
        )
    if args.command == "eval":
        return api.rescore(args.suite, _only(args.only), args.run_id, args.device, args.results_dir)
    if args.command == "study":
        return api.study(args.suite, args.workers, args.storage, args.device, args.results_dir)
    if args.command == "report":
        return api.report(
            args.suite,
            args.experiment,
            args.run_id,
            args.tracking_uri,
            args.results_dir,
            args.out,
            not args.no_figures,
        )
    if args.command == "nightly":
        return api.nightly(
            args.suite,
            args.baseline,
            args.update_baseline,
            args.device,
            args.results_dir,
            args.reports_dir,
            workers=args.workers,
        )
    if args.command == "validate":
        return api.validate(args.suite)
    return api.list_entries(args.kind, args.dir)
