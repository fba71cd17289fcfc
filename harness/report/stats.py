"""Leaderboard numbers: per (dataset, variant, checkpoint, metric) mean ± std over seeds with n
and a 95% bootstrap interval, ranks by each metric's direction, completeness marks.

Scores under different protocols never share a column: the metric key already carries the
extractor family and sample count (``fid_2500_cls`` vs ``fid_10k``), and where one key was
computed with different extractor weights in one dataset the weights hash is added to it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.evaluate import metric_base

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def higher_is_better(key: str) -> bool:
    from harness.evaluate import METRICS

    return bool(METRICS.meta(metric_base(key))["higher_is_better"])


def bootstrap_interval(values: np.ndarray) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the mean (``scipy.stats.bootstrap``, 2,000
    resamples, numpy default_rng(0)); NaN for fewer than two values. With fewer than three
    seeds the interval says little, and the report flags it."""
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2:
        return float("nan"), float("nan")
    if np.all(values == values[0]):  # scipy warns on a degenerate distribution
        return float(values[0]), float(values[0])
    result = bootstrap(
        (values,),
        np.mean,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The logged keys of registered metrics present in the runs, final ones then best ones."""
    keys = [c.removeprefix("metric:") for c in frame.columns if c.startswith("metric:")]
    for listed in frame.get("undefined", pd.Series(dtype=object)).dropna():
        keys += [k for k in str(listed).split(",") if k and k not in keys]
    keys = [k for k in keys if metric_base(k) is not None]
    return sorted(k for k in keys if not k.startswith("best/")) + sorted(
        k for k in keys if k.startswith("best/")
    )


def leaderboard(frame: pd.DataFrame, expected_seeds: dict[str, int] | None = None) -> pd.DataFrame:
    """Long-format table: one row per (dataset, variant, checkpoint, metric column).

    ``cell_complete``: every expected seed ran and completed. ``complete``: that, and the
    metric has a value for every seed (a metric may be undefined for a seed, e.g. reverse KL
    with no high-quality sample); only complete entries are ranked."""
    columns = [
        "dataset",
        "variant",
        "checkpoint",
        "metric",
        "column",
        "higher_is_better",
        "n",
        "expected",
        "runs",
        "mean",
        "std",
        "ci_low",
        "ci_high",
        "complete",
        "cell_complete",
        "statuses",
        "rank",
    ]
    if frame.empty:
        return pd.DataFrame(columns=[*columns, "real"])
    rows = []
    keys = metric_columns(frame)
    for dataset, in_dataset in frame.groupby("dataset", sort=True):
        expected = (expected_seeds or {}).get(dataset)
        if expected is None:
            expected = int(in_dataset.groupby("variant")["seed"].nunique().max())
        hashes = in_dataset.get("eval.extractor_weights_hash", pd.Series(dtype="string"))
        several = hashes.dropna().nunique() > 1
        for variant, runs in in_dataset.groupby("variant", sort=True):
            statuses = runs["status"].fillna("unknown")
            done = runs[statuses == "completed"]
            status_text = ", ".join(
                f"{s}: {c}" for s, c in statuses.value_counts().sort_index().items()
            )
            complete = len(done) == expected and len(runs) == expected
            for key in keys:
                column = f"metric:{key}"
                groups = [(None, done)]
                if several and done["eval.extractor_weights_hash"].nunique() > 1:
                    groups = list(done.groupby("eval.extractor_weights_hash"))
                for weights, part in groups:
                    values = (
                        part[column].dropna().to_numpy(dtype=np.float64)
                        if column in part
                        else np.array([])
                    )
                    undefined = part.get("undefined", pd.Series(dtype=object)).fillna("")
                    if (
                        len(values) == 0
                        and not undefined.str.split(",")
                        .map(lambda listed, key=key: key in listed)
                        .any()
                    ):
                        continue  # not computed for this variant (another dataset's metric)
                    label = key.removeprefix("best/")
                    if several:
                        weights = weights or part["eval.extractor_weights_hash"].dropna().iloc[0]
                        label = f"{label} [{str(weights)[:8]}]"
                    low, high = bootstrap_interval(values)
                    rows.append(
                        {
                            "dataset": dataset,
                            "variant": variant,
                            "checkpoint": "best" if key.startswith("best/") else "final",
                            "metric": metric_base(key),
                            "column": label,
                            "higher_is_better": higher_is_better(key),
                            "n": len(values),
                            "expected": expected,
                            "runs": len(runs),
                            "mean": float(values.mean()) if len(values) else float("nan"),
                            "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
                            "ci_low": low,
                            "ci_high": high,
                            "complete": bool(complete and len(values) == expected),
                            "cell_complete": bool(complete),
                            "statuses": status_text,
                        }
                    )
    table = pd.DataFrame(rows, columns=columns[:-1])
    table["real"] = False
    return rank(table)


REAL_ROW = "real data (held-out)"


def real_rows(table: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    """The reference rows of each dataset: the real-data row (held-out split against the same
    reference, same protocol) and a translation task's baselines (the run's ``variant`` tag
    names the row), their values put under the columns they match (a smaller held-out count
    is kept in ``real_count``); never ranked."""
    from harness.evaluate import same_protocol_but_count, split_key

    if real.empty or table.empty:
        return table
    rows = []
    if "variant" not in real:
        real = real.assign(variant=REAL_ROW)
    real = real.assign(variant=real["variant"].fillna(REAL_ROW))
    for (dataset, row_name), runs in real.groupby(["dataset", "variant"]):
        run = runs.sort_values("start_time").iloc[-1]
        in_dataset = table[(table["dataset"] == dataset) & ~table["real"]]
        for checkpoint, part in in_dataset.groupby("checkpoint"):
            columns = list(dict.fromkeys(part["column"]))
            for name in [c for c in run.index if c.startswith("metric:")]:
                if pd.isna(run[name]):
                    continue
                key = name.removeprefix("metric:")
                column = same_protocol_but_count(key, columns)
                if column is None:
                    continue
                count = split_key(key)[1] if column != key else ""
                rows.append(
                    {
                        "dataset": dataset,
                        "variant": row_name,
                        "checkpoint": checkpoint,
                        "metric": metric_base(key),
                        "column": column,
                        "higher_is_better": higher_is_better(key),
                        "n": 1,
                        "expected": 1,
                        "runs": 1,
                        "mean": float(run[name]),
                        "std": float("nan"),
                        "ci_low": float("nan"),
                        "ci_high": float("nan"),
                        "complete": False,
                        "cell_complete": True,
                        "statuses": "held-out real data" if row_name == REAL_ROW else row_name,
                        "real": True,
                        "real_count": count,
                        "rank": pd.NA,
                    }
                )
    if not rows:
        return table
    return pd.concat([pd.DataFrame(rows), table], ignore_index=True)


def rank(table: pd.DataFrame) -> pd.DataFrame:
    """Rank complete rows within (dataset, checkpoint, column) by the metric's direction;
    incomplete rows get no rank."""
    table = table.copy()
    table["rank"] = pd.array([pd.NA] * len(table), dtype="Int64")
    ranked = table[table["complete"] & ~table.get("real", False)]
    for _, group in ranked.groupby(["dataset", "checkpoint", "column"]):
        ascending = not bool(group["higher_is_better"].iloc[0])
        ranks = group["mean"].rank(method="min", ascending=ascending).astype("Int64")
        table.loc[group.index, "rank"] = ranks
    return table
