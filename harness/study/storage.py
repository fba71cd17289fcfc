"""Where a study lives: the Optuna storage (SQLite, any RDB URL, or a journal file) with its
heartbeat, the study's name and folder."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from harness.config import SuiteSpec
from harness.study.base import StudyError

# A trial whose worker died is failed after this many heartbeats of silence and retried
# (with the same parameters) up to MAX_RETRIES times.
STALE_AFTER_HEARTBEATS = 3
MAX_RETRIES = 2


def study_name(suite: SuiteSpec) -> str:
    assert suite.study is not None
    return suite.study.name or suite.name


def default_storage(results: Path) -> str:
    return f"sqlite:///{(Path(results).resolve() / 'optuna.db')}"


def study_dir(results: Path, name: str) -> Path:
    return Path(results) / "studies" / name


def _quiet_optuna() -> None:
    """Heartbeats and retries are marked experimental in Optuna; say it once in the docs, not
    in every trial's output."""
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)


def open_storage(url: str, heartbeat_seconds: int):
    """An Optuna storage for ``url``; RDB storages get the heartbeat and the retry callback."""

    _quiet_optuna()
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if url.startswith("journal:"):
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return shield_calls(JournalStorage(JournalFileBackend(str(path))))
    if "://" not in url:
        raise StudyError(
            f"--storage {url}: not a storage URL; allowed: an SQLAlchemy URL "
            "(sqlite:///FILE, postgresql://USER@HOST/DB) or journal:FILE"
        )
    engine_kwargs: dict[str, Any] = (
        {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    )
    try:
        storage = RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_seconds,
            grace_period=STALE_AFTER_HEARTBEATS * heartbeat_seconds,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES),
        )
    except ImportError as error:
        raise StudyError(
            f"--storage {url}: the database driver is not installed ({error}); for "
            'PostgreSQL: pip install -e ".[postgres]"'
        ) from None
    except Exception as error:  # bad URL, unreachable server, ...
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise StudyError(f"--storage {url}: {type(error).__name__}: {first}") from None
    return shield_calls(storage)


def shield_calls(storage):
    """``storage`` with each of its storage methods run ``shielded()``: a SIGTERM or Ctrl-C
    that arrives inside one (a database transaction, a journal append) is acted on when the
    call is done, not half-way through it. The storage keeps its class (Optuna checks it)."""
    import functools

    from optuna.storages import BaseStorage

    from harness.stopping import shielded

    def wrap(method):
        @functools.wraps(method)
        def call(*args, **kwargs):
            with shielded():
                return method(*args, **kwargs)

        return call

    for name in dir(BaseStorage):
        if not name.startswith("_") and callable(getattr(BaseStorage, name)):
            setattr(storage, name, wrap(getattr(storage, name)))
    return storage


def optuna_study(suite: SuiteSpec, storage_url: str, name: str | None = None):
    """The Optuna study ``name`` (default: the wide search) of this suite, loaded."""
    import optuna

    storage = open_storage(storage_url, suite.study.heartbeat_seconds)
    return optuna.load_study(study_name=name or study_name(suite), storage=storage)


def _redact(url: str) -> str:
    """A storage URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url
