"""The default SQLite MLflow store: made aside and moved into place, under a lock.

MLflow creates and migrates a new SQLite store in place, in several transactions, so a kill in
the first second leaves a half-migrated file that no later run (nor ``mlflow db upgrade``) can
open, and two processes creating it at once collide. Here every process that opens the default
store first takes ``<results>/.mlflow.db.lock``; under it a missing store is built in a
temporary file and renamed to ``mlflow.db`` (the rename is atomic), and a store left half-made
by an older MLflow-side crash is set aside and rebuilt when it holds no runs.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

STORE_NAME = "mlflow.db"


class StoreError(RuntimeError):
    """The store cannot be used as it is; the message says what to do."""


class NoSpace(Exception):
    """The disk under the results folder (or the store) is full."""


def out_of_space(error: BaseException | None) -> bool:
    """Whether ``error`` (or one it was raised from) says the disk or database is full."""
    import errno

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, NoSpace):
            return True
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(error)
        if "database or disk is full" in text or "No space left on device" in text:
            return True
        error = error.__cause__ or error.__context__
    return False


@contextlib.contextmanager
def file_lock(path: Path):
    """An exclusive advisory lock on ``path`` for the block (released if the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, as MLflow itself does there
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def latest_schema() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def _inspect(db: Path) -> tuple[str | None, set[str], int]:
    """(schema revision, table names, number of runs) of an SQLite file, read-only."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        revision = None
        if "alembic_version" in tables:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        runs = 0
        if "runs" in tables:
            runs = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
        return revision, tables, runs
    finally:
        connection.close()


def _expected_tables() -> set[str]:
    import mlflow.store.tracking.dbmodels.models  # noqa: F401  (registers the tables)
    from mlflow.store.db.base_sql_model import Base

    return set(Base.metadata.tables)


def _build(path: Path, artifacts: Path, cache: Path | None = None) -> None:
    """Create and migrate a store at ``path`` (a file nothing else uses).

    MLflow's migrations take seconds; with a ``cache`` folder they run once per MLflow
    version and schema, into a template there (the migrated tables, without the default
    experiment), and a new store is a copy of it on which MLflow adds the default experiment
    with this store's artifact location, as it does after migrating in place."""
    import shutil

    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    template = _template(cache) if cache is not None else None
    if template is not None:
        shutil.copyfile(template, path)
    store = SqlAlchemyStore(f"sqlite:///{path}", artifacts.as_uri())
    store.engine.dispose()


def _template(cache: Path) -> Path | None:
    """A migrated store with no rows in ``cache`` (made once, under a lock); None where the
    cache cannot hold one (the store is then migrated in place)."""
    import mlflow

    template = cache / f"mlflow-{mlflow.__version__}-schema-{latest_schema()}.db"
    try:
        with file_lock(cache / ".mlflow-template.lock"):
            if template.exists() and _is_template(template):
                return template
            tmp = template.with_name(f".{template.name}.creating-{os.getpid()}")
            try:
                from mlflow.store.db.utils import _initialize_tables
                from sqlalchemy import create_engine

                engine = create_engine(f"sqlite:///{tmp}")
                try:
                    _initialize_tables(engine)
                finally:
                    engine.dispose()
                if not _is_template(tmp):
                    return None
                os.replace(tmp, template)
            finally:
                tmp.unlink(missing_ok=True)
        return template
    except (OSError, sqlite3.Error):  # a read-only or full cache: migrate in place
        return None


def _is_template(db: Path) -> bool:
    revision, tables, runs = _inspect(db)
    if revision != latest_schema() or not _expected_tables() <= tables or runs:
        return False
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT count(*) FROM experiments").fetchone()[0] == 0
    finally:
        connection.close()


def prepare(results_dir: Path, cache: Path | None = None) -> Path:
    """Make sure ``<results>/mlflow.db`` is a complete store at MLflow's current schema; a
    new one is copied from a migrated template kept in ``cache`` when given.

    Idempotent and safe to call from many processes at once. A store at an older schema that
    holds runs is left alone (MLflow's own upgrade applies); one that is damaged and holds runs
    is an error, never deleted."""
    results = Path(results_dir).resolve()
    results.mkdir(parents=True, exist_ok=True)
    db = results / STORE_NAME
    with file_lock(results / f".{STORE_NAME}.lock"):
        for stale in results.glob(f".{STORE_NAME}.creating-*"):  # from a killed creation
            stale.unlink(missing_ok=True)
        if db.exists():
            try:
                revision, tables, runs = _inspect(db)
            except sqlite3.DatabaseError as error:
                revision, tables, runs = None, set(), -1
                damage = f"not an SQLite database ({error})"
            else:
                damage = ""
                if not _expected_tables() <= tables:
                    damage = "tables missing"
                elif revision != latest_schema():
                    damage = f"schema {revision}, expected {latest_schema()}"
            if not damage:
                return db
            if runs > 0 and revision and _expected_tables() <= tables:
                raise StoreError(
                    f"{db}: the MLflow store is at {damage} (made by another MLflow version); "
                    f"take a backup, then run 'mlflow db upgrade sqlite:///{db}'"
                )
            if runs != 0:
                raise StoreError(
                    f"{db}: the MLflow store is damaged ({damage}) and holds runs, so it is "
                    "not rebuilt; move it aside to start a new store"
                )
            aside = db.with_name(f"{STORE_NAME}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(db, aside)  # a half-made store with no runs: kept aside, rebuilt
        tmp = results / f".{STORE_NAME}.creating-{os.getpid()}"
        try:
            _build(tmp, results / "artifacts", cache)
            os.replace(tmp, db)
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
                leftover.unlink(missing_ok=True)
    return db
