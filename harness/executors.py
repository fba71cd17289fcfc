"""Executors: where a suite's cells run. Every executor calls the same ``run_one``.

- ``InProcess`` (the default) runs the cells one after another in this process.
- ``LocalProcesses(n)`` runs them in ``n`` worker processes on this machine, each pinned to
  ``GANBENCH_THREADS`` torch threads (1 by default), so a cell gives the same numbers bit for
  bit whichever executor ran it. The driver owns the invocation's parent run and the progress
  output; workers attach their cells' runs to the parent and send their progress back over a
  queue.

- ``RayExecutor`` runs one Ray task per cell (``--executor ray``), on the cluster at
  ``--address`` or on a local one it starts on 127.0.0.1; each task asks for its threads' CPUs
  (and a GPU per cell when the device is CUDA), with the same thread pinning. Ray retries a
  task whose worker died, and the retry resumes the cell from its checkpoint (the dead
  worker's claim is free at once). Tasks import ``harness``, so every node needs ganbench
  installed and the results folder at the same path (a shared filesystem).

An executor's ``run(jobs, progress)`` takes ``Job``s (a cell and its run directory) and yields
``(position, CellResult)`` as cells finish, in any order; ``close()`` releases what it holds.
``LocalProcesses.start(cells)`` spawns the workers ahead of the first ``run``, so their
start-up overlaps the driver's (the store, the real-data row).

Stopping: SIGTERM to the driver (``kill``, a scheduler's timeout) raises ``Terminated`` in
it, which terminates its workers; a worker, on SIGTERM or when its driver has died however
it died (SIGKILL included), stops its cell the way Ctrl-C does (the MLflow run closed as
interrupted, the checkpoint kept for a re-run) and exits, so no worker outlives its driver.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness import stopping
from harness.stopping import Terminated, raise_on_sigterm

PARENT_POLL_S = 1.0  # how often a worker checks that its driver is alive
ORPHAN_GRACE_S = 30.0  # how long an orphaned worker may take to close its cell's run


def _watch_parent(parent: int) -> None:
    """Once ``parent`` is no longer this process's parent (it died): SIGTERM to this process,
    which stops its cell as Ctrl-C would, then exit after ``ORPHAN_GRACE_S`` at the latest
    (the pool's loop would otherwise wait for work from the dead driver forever)."""
    import signal
    import time

    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    _WORKER["orphaned"] = True
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(ORPHAN_GRACE_S)
    os._exit(143)


@dataclass(frozen=True)
class Job:
    """One cell for an executor: where it sits in the suite and where its run directory is."""

    position: int  # 1-based, as progress lines show it
    cell: object  # RunSpec
    run_dir: Path | None = None  # None: the cell's own directory under the results root


@dataclass(frozen=True)
class Context:
    """What every worker needs to run a cell, all of it picklable."""

    results: Path
    device: str
    experiment: str
    parent_run_id: str | None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_workers(value: str | int) -> int:
    """``--workers``: a whole number >= 1, or ``auto`` (one per core this process may use)."""
    if value == "auto":
        return available_cores()
    try:
        workers = int(value)
    except (TypeError, ValueError):
        workers = 0
    if workers < 1:
        raise ValueError(f"--workers {value!r}: must be a whole number >= 1 or 'auto'")
    return workers


class InProcess:
    """Cells one after another in this process, sharing loaded datasets."""

    workers = 1

    def __init__(self, context: Context, tracker, torch_device) -> None:
        self.context, self.tracker, self.device = context, tracker, torch_device
        self.data_cache: dict = {}

    def run(self, jobs: list[Job], progress) -> Iterator[tuple[int, object]]:
        from harness.runner import run_one

        for job in jobs:
            result = run_one(
                job.cell,
                self.context.results,
                self.device,
                self.tracker,
                self.context.parent_run_id,
                progress.for_cell(job.position),
                self.data_cache,
                run_dir=job.run_dir,
            )
            yield job.position, result

    def close(self) -> None:
        pass


class LocalProcesses:
    """Cells in ``workers`` spawned processes on this machine, as workers come free."""

    def __init__(self, context: Context, workers: int) -> None:
        self.context, self.workers = context, workers
        self._pool = self._queue = None

    def start(self, cells: int) -> None:
        """Spawn the workers now (at most one per cell), so that their start-up (imports of
        torch, torch-fidelity and MLflow) overlaps the driver's own work before the cells,
        such as scoring the real-data row."""
        if self._pool is not None:
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from harness.train.seeding import cpu_threads

        spawn = multiprocessing.get_context("spawn")
        self._queue = spawn.Queue()
        count = max(1, min(self.workers, cells))
        self._pool = ProcessPoolExecutor(
            max_workers=count, mp_context=spawn, initializer=_worker_init, initargs=(self._queue,)
        )
        with _native_threads(cpu_threads()):  # the workers are spawned by these submits
            for _ in range(count):
                self._pool.submit(_worker_ready)

    def close(self, terminate: bool = False) -> None:
        """Release the workers: after their current cells, or with ``terminate`` at once
        (SIGTERM: each stops its cell as Ctrl-C would and exits)."""
        if self._pool is None:
            return
        if terminate:
            for process in list((self._pool._processes or {}).values()):
                with contextlib.suppress(Exception):
                    process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def run(self, jobs: list[Job], progress) -> Iterator[tuple[int, object]]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        from harness.runner import CellResult
        from harness.track.store import out_of_space

        self.start(len(jobs))
        relay = threading.Thread(target=_relay, args=(self._queue, progress), daemon=True)
        relay.start()
        broken = False
        try:
            futures = {self._pool.submit(_worker_run, self.context, job): job for job in jobs}
            for future in as_completed(futures):
                job = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool as error:
                    broken = True
                    reason = f"worker process died ({error}); re-run to resume the cell"
                    result = CellResult(job.cell, "failed", reason)
                except Exception as error:  # outside run_one's own guard (e.g. the store)
                    if out_of_space(error):  # a full disk stops the invocation
                        raise
                    reason = f"{type(error).__name__}: {error}".splitlines()[0]
                    result = CellResult(job.cell, "failed", reason)
                yield job.position, result
        except BaseException as error:
            self.close(terminate=isinstance(error, Terminated))
            raise
        finally:
            if broken:  # a broken pool takes no more jobs; the next run starts a new one
                self.close()
            self._queue.put(None)
            relay.join(timeout=10)


@contextlib.contextmanager
def _native_threads(count: int):
    """Spawned workers start with OpenMP/OpenBLAS/MKL pinned to ``count`` threads too, so
    NumPy and SciPy in evaluation do not oversubscribe the cores the workers share."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(count) for name in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _relay(queue, progress) -> None:
    """Replay the workers' progress events on the driver's progress output."""
    while (event := queue.get()) is not None:
        position, method, args = event
        getattr(progress.for_cell(position), method)(*args)


# -- inside a worker process ------------------------------------------------------------

_WORKER: dict = {}


class _QueueProgress:
    """A worker's progress: events go to the driver, which prints them."""

    def __init__(self, queue, position: int) -> None:
        self.queue, self.position = queue, position

    def cell_started(self, cell, total_iterations: int, start_iteration: int) -> None:
        self.queue.put((self.position, "cell_started", (cell, total_iterations, start_iteration)))

    def step(self, iteration: int) -> None:
        pass

    def tick(self, record: dict) -> None:
        self.queue.put((self.position, "tick", (record,)))


def _worker_init(queue) -> None:
    _WORKER.update(queue=queue, data_cache={}, trackers={}, busy=False)
    raise_on_sigterm(idle_exits=lambda: not _WORKER.get("busy"))
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    import harness.evaluate.fidelity  # noqa: F401  (torch-fidelity: the slowest import)
    import harness.runner  # noqa: F401
    import harness.track.mlflow_tracker  # noqa: F401


def _worker_ready() -> None:
    """A no-op task: submitting one per worker makes the pool spawn them all at once."""


def _worker_run(context: Context, job: Job):
    from harness.runner import resolve_device, run_one
    from harness.track.mlflow_tracker import MlflowTracker

    key = (str(context.results), context.experiment)
    if key not in _WORKER["trackers"]:
        _WORKER["trackers"][key] = MlflowTracker(context.results, context.experiment)
    tracker = _WORKER["trackers"][key]
    _WORKER["busy"] = True
    try:
        result = run_one(
            job.cell,
            context.results,
            resolve_device(context.device),
            tracker,
            context.parent_run_id,
            _QueueProgress(_WORKER["queue"], job.position),
            _WORKER["data_cache"],
            run_dir=job.run_dir,
        )
    finally:
        _WORKER["busy"] = False
        # The cell's run is closed. An orphan has nobody waiting for the result; a worker
        # told to stop must not go on to the jobs already queued for it (the pool hands a
        # worker its next job whatever the last one raised, and the driver would wait for it).
        if _WORKER.get("orphaned") or stopping.requested():
            os._exit(143)
    tracker.unsent()  # try to send a journal now; the driver sends what is left at the end
    return result


# -- Ray --------------------------------------------------------------------------------


class RayExecutor:
    """One Ray task per cell, as Ray schedules them; results as tasks finish."""

    RETRIES = 2  # Ray re-runs a task this many times when its worker process dies

    def __init__(self, context: Context, workers: int, address: str | None = None) -> None:
        self.context, self.workers, self.address = context, workers, address

    def close(self) -> None:
        pass  # the cluster is joined (or started) by ``run`` and left when it ends

    def _start(self):
        import ray

        if ray.is_initialized():
            return ray, False
        options = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:  # a local cluster of its own, on the loopback interface only
                ray.init(num_cpus=self.workers, _node_ip_address="127.0.0.1", **options)
        except Exception as error:  # one line, not Ray's traceback
            where = f" at {self.address}" if self.address else ""
            reason = str(error).strip().splitlines()[-1][:300] if str(error).strip() else ""
            raise RuntimeError(
                f"--executor ray: cannot reach or start the Ray cluster{where}: "
                f"{type(error).__name__}: {reason}"
            ) from None
        return ray, True

    def run(self, jobs: list[Job], progress) -> Iterator[tuple[int, object]]:
        from harness.runner import CellResult
        from harness.train.seeding import cpu_threads

        ray, started = self._start()
        from ray.util.queue import Queue

        threads = cpu_threads()
        env = {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        env |= {"MKL_NUM_THREADS": str(threads), "GANBENCH_THREADS": str(threads)}
        task = ray.remote(_ray_cell).options(
            num_cpus=threads,
            num_gpus=1 if self.context.device.startswith("cuda") else 0,
            max_retries=self.RETRIES,
            retry_exceptions=False,
            runtime_env={"env_vars": env},
        )
        queue = Queue()
        stop = threading.Event()
        relay = threading.Thread(target=_ray_relay, args=(queue, progress, stop), daemon=True)
        relay.start()
        try:
            refs = {task.remote(self.context, job, queue): job for job in jobs}
            waiting = list(refs)
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                job = refs[done[0]]
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayError as error:
                    reason = f"Ray: {type(error).__name__}: {error}".splitlines()[0][:300]
                    result = CellResult(job.cell, "failed", reason + "; re-run to resume the cell")
                yield job.position, result
        finally:
            stop.set()
            relay.join(timeout=10)
            if started:
                ray.shutdown()


def _ray_relay(queue, progress, stop) -> None:
    from ray.util.queue import Empty

    while not stop.is_set():
        try:
            position, method, args = queue.get(block=True, timeout=0.5)
        except Empty:
            continue
        except Exception:  # the queue's actor went away with the cluster
            return
        getattr(progress.for_cell(position), method)(*args)


def _ray_cell(context: Context, job: Job, queue):
    """A Ray task: one cell, exactly as a local worker process runs it."""
    if "queue" not in _WORKER:
        _worker_init(None)
    _WORKER["queue"] = queue
    return _worker_run(context, job)
