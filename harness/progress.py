"""Progress output for long work: tqdm bars on a terminal, plain lines otherwise; and the
summary table printed at the end of a suite."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

HEADLINE_STATS = ("loss_d", "loss_g")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _tick_line(record: dict) -> str:
    skip = {"tick", "images_seen", "g_steps", "d_steps", "wall_seconds", "d_real", "d_fake"}
    parts = [f"{key}={_fmt(value)}" for key, value in record.items() if key not in skip]
    return " ".join(parts)


class CellProgress:
    """One cell's view of the suite's progress (what ``run_one`` and the tick loop call)."""

    def __init__(self, suite_progress, position: int) -> None:
        self.suite, self.position = suite_progress, position

    def cell_started(self, cell, total_iterations: int, start_iteration: int) -> None:
        self.suite.cell_started(self.position, cell, total_iterations, start_iteration)

    def step(self, iteration: int) -> None:
        self.suite.step(self.position, iteration)

    def tick(self, record: dict) -> None:
        self.suite.tick(self.position, record)


class PlainProgress:
    """One line per cell start, tick and end; for logs, CI and pipes. Lines carry the cell's
    position in the suite (``[3/20]``), so cells running side by side stay readable."""

    def __init__(self, total_cells: int, stream: TextIO | None = None) -> None:
        self.total, self.stream = total_cells, stream or sys.stderr
        self.lock = threading.Lock()  # worker events arrive on another thread

    def for_cell(self, position: int) -> CellProgress:
        return CellProgress(self, position)

    def _print(self, position: int, text: str) -> None:
        print(f"[{position}/{self.total}] {text}", file=self.stream, flush=True)

    def cell_started(self, position, cell, total_iterations: int, start_iteration: int) -> None:
        resumed = f", resuming at iteration {start_iteration}" if start_iteration else ""
        with self.lock:
            self._print(
                position,
                f"{cell.cell_name} [{cell.spec_hash}] {total_iterations} iterations{resumed}",
            )

    def step(self, position: int, iteration: int) -> None:
        pass

    def tick(self, position: int, record: dict) -> None:
        with self.lock:
            self._print(position, f"  tick {record['tick']}: {_tick_line(record)}")

    def note(self, position: int, text: str) -> None:
        with self.lock:
            self._print(position, text)

    def cell_finished(self, position: int, result) -> None:
        if result.elsewhere:
            text = f"{result.cell.cell_name}: {result.status} by another invocation"
        elif result.skipped:
            text = f"{result.cell.cell_name}: already {result.status}, skipped"
        else:
            wall = result.record.get("wall_seconds")
            took = f" in {wall:.1f} s" if wall is not None else ""
            reason = f" ({result.reason})" if result.reason else ""
            text = f"{result.cell.cell_name}: {result.status}{took}{reason}"
        with self.lock:
            self._print(position, text)

    def close(self) -> None:
        pass


class BarProgress(PlainProgress):
    """An overall bar over cells and, when cells run one at a time, a bar over the current
    cell's iterations."""

    def __init__(self, total_cells: int, stream: TextIO | None = None, cell_bars=True) -> None:
        from tqdm import tqdm

        super().__init__(total_cells, stream)
        self._tqdm, self.cell_bars = tqdm, cell_bars
        self.overall = tqdm(
            total=total_cells, desc="suite", unit="cell", position=0, file=self.stream
        )
        self.bar = None

    def _print(self, position: int, text: str) -> None:
        self._tqdm.write(f"[{position}/{self.total}] {text}", file=self.stream)

    def cell_started(self, position, cell, total_iterations: int, start_iteration: int) -> None:
        super().cell_started(position, cell, total_iterations, start_iteration)
        if not self.cell_bars:
            return
        with self.lock:
            self.bar = self._tqdm(
                total=total_iterations,
                initial=start_iteration,
                desc=cell.cell_name,
                unit="it",
                position=1,
                leave=False,
                file=self.stream,
            )
            self._last = start_iteration

    def step(self, position: int, iteration: int) -> None:
        if self.bar is not None:
            self.bar.update(iteration - self._last)
            self._last = iteration

    def tick(self, position: int, record: dict) -> None:
        if self.bar is None:
            return super().tick(position, record)
        self.bar.set_postfix({k: _fmt(record[k]) for k in HEADLINE_STATS if k in record})

    def cell_finished(self, position: int, result) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.close()
                self.bar = None
        super().cell_finished(position, result)
        with self.lock:
            self.overall.update(1)

    def close(self) -> None:
        self.overall.close()


def make_progress(total_cells: int, stream: TextIO | None = None, parallel=False) -> PlainProgress:
    """Bars on a terminal (only the overall one when cells run in parallel), else lines."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", lambda: False)()
    if not isatty:
        return PlainProgress(total_cells, stream)
    return BarProgress(total_cells, stream, cell_bars=not parallel)


def summary_table(results, real: dict[str, dict] | None = None) -> str:
    """A fixed-width table of every cell: status, wall time, images seen, losses, metrics;
    with ``real`` (dataset label → {row name → scores}), each dataset's reference rows (the
    real-data row; a translation task's baselines), at the same protocol, above its cells."""
    from harness.evaluate import metric_base, same_protocol_but_count, split_key

    metrics: list[str] = []
    for record in [r.record for r in results]:
        metrics += [k for k in record if metric_base(k) and k not in metrics]
    # Reference scores go under the matching column; a smaller held-out count is shown.
    reference_rows: dict[str, dict[str, dict[str, str]]] = {}
    for label, named in (real or {}).items():
        for row_name, scores in named.items():
            row = reference_rows.setdefault(label, {}).setdefault(row_name, {})
            for key, value in scores.items():
                column = same_protocol_but_count(key, metrics)
                if column is None:
                    metrics.append(key)
                    column = key
                count = "" if column == key else f" (n={split_key(key)[1]})"
                row[column] = _fmt(value) + count
    header = [
        "variant",
        "dataset",
        "seed",
        "status",
        "wall_s",
        "eval%",
        "kimg",
        *HEADLINE_STATS,
        *metrics,
    ]
    rows, shown = [], set()
    for r in results:
        label = r.cell.dataset_label
        if reference_rows.get(label) and label not in shown:
            shown.add(label)
            for row_name, texts in reference_rows[label].items():
                rows.append(
                    [row_name, label, "-", "-", "-", "-", "-"]
                    + ["-" for _ in HEADLINE_STATS]
                    + [texts.get(k, "-") for k in metrics]
                )
        record = r.record
        status = (
            r.status
            + (" (elsewhere)" if r.elsewhere else " (skipped)" if r.skipped else "")
            + (" (resumed)" if r.resumed else "")
        )
        rows.append(
            [
                r.cell.variant_name,
                r.cell.dataset_label,
                str(r.cell.seed),
                status,
                _fmt(round(record["wall_seconds"], 1)) if "wall_seconds" in record else "-",
                f"{100 * record['eval_share']:.0f}" if "eval_share" in record else "-",
                _fmt(record["kimg"]) if "kimg" in record else "-",
                *[_fmt(record[k]) if k in record else "-" for k in (*HEADLINE_STATS, *metrics)],
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failures = [r for r in results if r.reason]
    lines += [f"{r.cell.cell_name}: {r.status}: {r.reason}" for r in failures]
    return "\n".join(lines)
