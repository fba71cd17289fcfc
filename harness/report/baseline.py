"""Text GANs against maximum likelihood at the same budget (text-gans reference §4, issue 14).

On a sequence dataset with one maximum-likelihood variant (recipe ``mle``) every other variant
is put beside it on two numbers: the quality of its samples (the oracle's NLL of them,
``nll_oracle_<N>``, on the synthetic oracle; BLEU-5 against the test set on real text) and the
model's NLL of the held-out sequences (coverage; ``nll_test``), at the final checkpoint, as differences paired by seed (both runs
of a seed share the data and the budget) with a 95% bootstrap interval of the mean.

A GAN that trades coverage for quality has not beaten MLE unless it beats MLE's own
trade-off: MLE sampled colder also improves sample quality and raises held-out NLL. Where the suite
sweeps temperatures (``evaluation.temperatures``), MLE's points (mean over seeds, temperature
1 included) make a frontier, and each GAN's mean is read against it: the held-out NLL MLE has
at the GAN's quality (linear between the two neighbouring temperatures) and the
temperature that gets there. Below that held-out NLL the GAN is beyond the frontier; above,
it is inside it, i.e. colder MLE does better on both. Outside the swept range: a model
better on both than MLE's sharpest swept point is beyond the frontier; one with higher quality
but worse held-out NLL is "not placed" (sweep lower temperatures: colder MLE may beat it); one
whose held-out NLL no swept MLE point beats is "not beaten by MLE at any swept temperature".
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from harness.report.stats import bootstrap_interval

BASELINE_RECIPE = "mle"
COVERAGE = "nll_test"
_TEMPERATURE = re.compile(r"_temp([0-9.]+)$")


def _fmt(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


def _signed(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:+.3f}"


QUALITY = (("nll_oracle", 1), ("bleu5", -1))  # (metric, sign that makes it a loss), first found


def quality_key(frame: pd.DataFrame) -> tuple[str, int] | None:
    """The quality key at temperature 1 logged in these runs, with the sign that makes it a
    loss: NLL-oracle on an oracle (``nll_oracle_10k``, lower is better), else BLEU-5 against
    the test set (``bleu5_10k``, higher is better; Caccia et al. 2020 read BLEU-5 so)."""
    for base, sign in QUALITY:
        keys = sorted(
            c.removeprefix("metric:")
            for c in frame.columns
            if c.startswith(f"metric:{base}_") and "_temp" not in c and frame[c].notna().any()
        )
        if keys:
            return keys[0], sign
    return None


def frontier(mle: pd.DataFrame, quality: str, sign: int = 1) -> pd.DataFrame:
    """MLE's (temperature, quality, held-out NLL) points, means over seeds, with ``loss`` =
    sign × quality, sorted by it; temperature 1 is the run's own scores."""
    points = [(1.0, mle[f"metric:{quality}"].mean(), mle[f"metric:{COVERAGE}"].mean())]
    for column in mle.columns:
        found = _TEMPERATURE.search(column)
        if not column.startswith(f"metric:{quality}_temp") or not found:
            continue
        coverage = f"metric:{COVERAGE}_temp{found.group(1)}"
        if coverage in mle:
            points.append((float(found.group(1)), mle[column].mean(), mle[coverage].mean()))
    table = pd.DataFrame(points, columns=["temperature", "quality", "coverage"]).dropna()
    table["loss"] = sign * table["quality"]
    return table.sort_values("loss").reset_index(drop=True)


def efficient(points: pd.DataFrame) -> pd.DataFrame:
    """The points no other point beats on both numbers (the frontier proper), by loss."""
    keep = [
        not any(
            o.loss <= p.loss
            and o.coverage <= p.coverage
            and (o.loss, o.coverage) != (p.loss, p.coverage)
            for o in points.itertuples()
        )
        for p in points.itertuples()
    ]
    return points[keep].sort_values("loss").reset_index(drop=True)


def on_frontier(points: pd.DataFrame, loss: float) -> tuple[float, float] | None:
    """(temperature, held-out NLL) of MLE interpolated along its frontier at this quality
    loss, or None outside the frontier's range (or with fewer than two points on it)."""
    front = efficient(points)
    if len(front) < 2 or math.isnan(loss):
        return None
    if not front["loss"].iloc[0] <= loss <= front["loss"].iloc[-1]:
        return None
    x = front["loss"].to_numpy()
    return (
        float(np.interp(loss, x, front["temperature"].to_numpy())),
        float(np.interp(loss, x, front["coverage"].to_numpy())),
    )


def _paired(gan: pd.DataFrame, mle: pd.DataFrame, key: str) -> tuple[np.ndarray, float, float]:
    both = gan[["seed", f"metric:{key}"]].merge(
        mle[["seed", f"metric:{key}"]], on="seed", suffixes=("_gan", "_mle")
    )
    both = both.dropna()
    deltas = (both[f"metric:{key}_gan"] - both[f"metric:{key}_mle"]).to_numpy(np.float64)
    low, high = bootstrap_interval(deltas)
    return deltas, low, high


def _delta_text(deltas: np.ndarray, low: float, high: float) -> str:
    if not len(deltas):
        return "–"
    text = _signed(float(deltas.mean()))
    if not math.isnan(low):
        text += f" [{_signed(low)}, {_signed(high)}]" + (" n<3" if len(deltas) < 3 else "")
    return text


def _verdict(quality: float, coverage: float, points: pd.DataFrame, sign: int) -> tuple[str, str]:
    """(MLE's held-out NLL at this quality, the verdict) for a model's mean scores."""
    if math.isnan(quality) or math.isnan(coverage):
        return "–", "undefined"
    better = points[(points["loss"] <= sign * quality) & (points["coverage"] <= coverage)]
    found = on_frontier(points, sign * quality)
    where = "–" if found is None else f"{_fmt(found[1])} (T≈{found[0]:.2f})"
    if len(better):
        best = better.sort_values("coverage").iloc[0]
        return where, (
            f"inside MLE's frontier: MLE at T={best.temperature:g} is better on both "
            f"({best.quality - quality:+.3f}, {best.coverage - coverage:+.3f})"
        )
    if len(points) < 2:
        return where, "no temperature sweep to compare with"
    if found is None:
        front = efficient(points)
        sharpest = front.iloc[0]
        if sign * quality < sharpest.loss and coverage <= sharpest.coverage:
            return where, (
                f"beyond MLE's frontier: better on both than MLE at its sharpest swept "
                f"T={sharpest.temperature:g} ({quality - sharpest.quality:+.3f}, "
                f"{coverage - sharpest.coverage:+.3f})"
            )
        if sign * quality < sharpest.loss:
            # Lowering T trades held-out NLL for quality along MLE's curve, past the sweep's
            # end too: a model there is unplaced, not unbeaten (measured on the oracle tier:
            # LeakGAN at lr 1e-3, 4.57 / 5.57, against MLE at T = 0.6, 4.26 / 5.47).
            return where, (
                f"not placed: higher quality than MLE's sharpest swept point "
                f"(T={sharpest.temperature:g}: {_fmt(sharpest.quality)}) but worse held out "
                f"({coverage - sharpest.coverage:+.3f}); sweep lower temperatures"
            )
        return where, "not beaten by MLE at any swept temperature"
    gap = coverage - found[1]
    if gap < 0:
        return where, f"beyond MLE's frontier by {-gap:.3f} nats held out"
    return where, f"inside MLE's frontier: {gap:.3f} nats worse held out than MLE there"


def against_mle(runs: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One (heading, table) per sequence dataset that has one MLE variant and others."""
    out = []
    if runs.empty or "recipe" not in runs or "dataset_kind" not in runs:
        return out
    done = runs[(runs["status"] == "completed") & (runs["dataset_kind"] == "sequences")]
    for dataset, part in done.groupby("dataset", sort=True):
        baseline = part[part["recipe"] == BASELINE_RECIPE]
        found = quality_key(part)
        if baseline["variant"].nunique() != 1 or found is None or f"metric:{COVERAGE}" not in part:
            continue
        quality, sign = found
        name = str(baseline["variant"].iloc[0])
        rows = []
        for variant, gan in part[part["recipe"] != BASELINE_RECIPE].groupby("variant", sort=True):
            paired = baseline[baseline["seed"].isin(gan["seed"])]  # MLE on the GAN's seeds
            points = frontier(paired, quality, sign)
            q_deltas, q_low, q_high = _paired(gan, baseline, quality)
            c_deltas, c_low, c_high = _paired(gan, baseline, COVERAGE)
            q_mean, c_mean = gan[f"metric:{quality}"].mean(), gan[f"metric:{COVERAGE}"].mean()
            where, verdict = _verdict(q_mean, c_mean, points, sign)
            rows.append(
                {
                    "variant": str(variant),
                    "seeds paired": str(len(q_deltas)),
                    f"{quality} (GAN / {name})": (
                        f"{_fmt(q_mean)} / {_fmt(paired[f'metric:{quality}'].mean())}"
                    ),
                    f"Δ {quality} [95% CI]": _delta_text(q_deltas, q_low, q_high),
                    f"{COVERAGE} (GAN / {name})": (
                        f"{_fmt(c_mean)} / {_fmt(paired[f'metric:{COVERAGE}'].mean())}"
                    ),
                    f"Δ {COVERAGE} [95% CI]": _delta_text(c_deltas, c_low, c_high),
                    f"{name}'s {COVERAGE} at this {quality}": where,
                    "against the frontier": verdict,
                }
            )
        if rows:
            points = frontier(baseline, quality, sign).sort_values("temperature")
            sweep = ", ".join(
                f"T={t:g}: {q:.3f} / {c:.3f}"
                for t, q, c in points[["temperature", "quality", "coverage"]].itertuples(
                    index=False
                )
            )
            heading = (
                f"{dataset}: each model against {name} at the same budget (final checkpoint, "
                f"{quality} {'lower' if sign > 0 else 'higher'} is better, {COVERAGE} lower; differences, and {name}'s frontier, over the seeds both have; "
                f"{name}'s temperature sweep {quality} / {COVERAGE}, all seeds: {sweep})"
            )
            out.append((heading, pd.DataFrame(rows)))
    return out
