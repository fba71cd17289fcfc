"""Stopping on SIGTERM as on Ctrl-C, without tearing a write to the store in half.

``raise_on_sigterm()`` makes SIGTERM raise ``Terminated`` (a ``KeyboardInterrupt``) in the
main thread, so a ``kill`` or a scheduler's timeout stops a process the way Ctrl-C does: its
runs closed as interrupted, its workers stopped. Python raises a signal's exception wherever
the main thread happens to be, and inside a database call that leaves a transaction open
(holding SQLite's write lock, so the runs can then not be closed) or makes SQLAlchemy log a
traceback of its own. Store calls therefore run ``shielded()``: a SIGTERM (or Ctrl-C's
SIGINT) that arrives inside one is held and acted on when the outermost shielded block ends.
A process acts on the first SIGTERM only; later ones (a second ``kill`` while its runs are
being closed) are ignored. Ctrl-C outside a store call is Python's own KeyboardInterrupt.

The signal can also land inside code that Python runs on the side and whose exceptions it
drops: a weakref callback or ``__del__`` run by the garbage collector. The exception is then
"ignored" (printed with a traceback) and the process would go on as if never signalled. A
``sys.unraisablehook`` catches that case and delivers the signal again, so the stop happens at
the next ordinary point of the main thread instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

_STATE: dict = {
    "depth": 0,
    "pending": None,
    "stopping": False,
    "idle_exits": None,
    "raised": None,
}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise KeyboardInterrupt (and handled the same)."""


def raise_on_sigterm(idle_exits=None) -> None:
    """From now on SIGTERM raises ``Terminated`` in this process's main thread. With
    ``idle_exits`` (a callable; a worker), the process exits at once instead when
    ``idle_exits()`` is true (it is not running a cell)."""
    _STATE.update(depth=0, pending=None, stopping=False, idle_exits=idle_exits, raised=None)
    if sys.unraisablehook is not _unraisable:
        _STATE["previous_hook"] = sys.unraisablehook
        sys.unraisablehook = _unraisable
    signal.signal(signal.SIGTERM, _handler)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _handler)


def _handler(signum, frame) -> None:
    if _STATE["stopping"]:
        return  # already stopping: the first SIGTERM is being acted on
    if _STATE["depth"]:
        _STATE["pending"] = _STATE["pending"] or signum  # acted on when the store call ends
        return
    _stop(signum)


def _stop(signum: int) -> None:
    _STATE["raised"] = signum
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    _STATE["stopping"] = True
    idle = _STATE["idle_exits"]
    if idle is not None and idle():
        os._exit(143)
    raise Terminated("terminated by signal 15")


def _unraisable(unraisable) -> None:
    """Python dropped an exception it could not propagate. When it is the one a signal
    raised (the handler ran inside a garbage-collector callback), send the signal again from
    a helper thread: the main thread has left the callback by the time it arrives."""
    signum = _STATE.get("raised")
    if signum is not None and isinstance(unraisable.exc_value, KeyboardInterrupt):
        _STATE["raised"] = None
        timer = threading.Timer(0.01, _resend, (signum,))
        timer.daemon = True
        timer.start()
        return
    _STATE.get("previous_hook", sys.__unraisablehook__)(unraisable)


def _resend(signum: int) -> None:
    _STATE["stopping"] = False  # the first delivery was lost: act on this one
    os.kill(os.getpid(), signum)


def requested() -> bool:
    """Whether this process has begun stopping on a SIGTERM."""
    return bool(_STATE.get("stopping"))


@contextlib.contextmanager
def shielded():
    """Hold SIGTERM off for the duration of the block (a store call), then act on it. Only
    the main thread is shielded: it is where the signal's exception is raised."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _STATE["depth"] += 1
    try:
        yield
    finally:
        _STATE["depth"] -= 1
        if not _STATE["depth"] and _STATE["pending"]:
            signum, _STATE["pending"] = _STATE["pending"], None
            _stop(signum)
