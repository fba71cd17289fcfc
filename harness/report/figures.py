"""Report figures (matplotlib, Agg): PNG bytes the HTML embeds and the Markdown links."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from harness.report.stats import higher_is_better


def _png(figure) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _axes(ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(5.2 * ncols, 3.4), squeeze=False)


def _images_axis(ax) -> None:
    """Images seen as 20k, 100k, ... with few ticks, so the labels never overlap."""
    from matplotlib.ticker import EngFormatter, MaxNLocator

    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.xaxis.set_major_locator(MaxNLocator(5))


def headline_key(runs: pd.DataFrame) -> str | None:
    """The metric a dataset's figures show: energy distance or FID where logged, else the
    first registered metric."""
    from harness.report.stats import metric_columns

    keys = [k for k in metric_columns(runs) if not k.startswith("best/")]
    keys = [k for k in keys if f"metric:{k}" in runs and runs[f"metric:{k}"].notna().any()]
    for prefix in ("fid", "energy_distance", "reverse_kl", "modes_covered"):
        for key in keys:
            if key == prefix or key.startswith(prefix + "_"):
                return key
    return keys[0] if keys else None


def curves(histories: dict[str, pd.DataFrame], key: str, title: str) -> bytes:
    """``key`` against images seen per variant: the mean over seeds with a min–max band,
    drawn only at steps where every seed has a value (a gap where some seed's value was
    undefined, never a mean over whichever seeds happened to have one)."""
    figure, axes = _axes()
    ax = axes[0][0]
    for variant, points in sorted(histories.items()):
        table = points.pivot_table(index="step", columns="run", values="value", aggfunc="last")
        table = table[table.notna().all(axis=1)].reindex(table.index)
        steps = table.index.to_numpy()
        ax.plot(steps, table.mean(axis=1, skipna=False).to_numpy(), label=variant, linewidth=1.4)
        low, high = table.min(axis=1, skipna=False), table.max(axis=1, skipna=False)
        ax.fill_between(steps, low.to_numpy(), high.to_numpy(), alpha=0.2)
    ax.set_xlabel("images seen")
    _images_axis(ax)
    ax.set_ylabel(key)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(figure)


def pareto_front(points: list[tuple[float, float]], higher: bool) -> list[int]:
    """Indices of points no other point beats on both cost (lower is better) and quality."""
    front = []
    for i, (cost, quality) in enumerate(points):
        dominated = False
        for j, (other_cost, other_quality) in enumerate(points):
            better = other_quality >= quality if higher else other_quality <= quality
            strictly = other_cost < cost or (
                other_quality > quality if higher else other_quality < quality
            )
            if j != i and other_cost <= cost and better and strictly:
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


def quality_vs_compute(table: pd.DataFrame, key: str, title: str) -> bytes:
    """Mean quality against mean wall time and images seen per variant; Pareto front marked."""
    figure, axes = _axes(2)
    higher = higher_is_better(key)
    for ax, cost, label in (
        (axes[0][0], "wall_seconds", "wall time per cell (s)"),
        (axes[0][1], "images_seen", "images seen"),
    ):
        rows = table.dropna(subset=[cost, key])
        points = list(zip(rows[cost], rows[key], strict=True))
        front = set(pareto_front(points, higher))
        for i, (variant, x, y) in enumerate(
            zip(rows["variant"], rows[cost], rows[key], strict=True)
        ):
            ax.scatter([x], [y], marker="*" if i in front else "o", s=90 if i in front else 30)
            ax.annotate(str(variant), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ordered = sorted((points[i] for i in front), key=lambda p: p[0])
        if len(ordered) > 1:
            ax.plot([p[0] for p in ordered], [p[1] for p in ordered], "--", linewidth=1)
        ax.set_xlabel(label)
        if cost == "images_seen":
            _images_axis(ax)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[0][0].set_title(f"{title}: Pareto front (stars, dashed)", fontsize=10)
    return _png(figure)


def best_so_far(trials: pd.DataFrame, title: str) -> bytes:
    """Per study: the objective's best value so far against the trial number."""
    figure, axes = _axes()
    ax = axes[0][0]
    for study, group in trials.groupby("study"):
        group = group.sort_values("trial")
        values = group["metric:objective"].to_numpy(dtype=np.float64)
        higher = group["direction"].iloc[0] == "maximize" if "direction" in group else False
        best = np.fmax.accumulate(values) if higher else np.fmin.accumulate(values)
        ax.plot(group["trial"].to_numpy(), best, drawstyle="steps-post", label=str(study))
        ax.scatter(group["trial"].to_numpy(), values, s=8, alpha=0.5)
    ax.set_xlabel("trial")
    ax.set_ylabel("objective (best so far)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _png(figure)
