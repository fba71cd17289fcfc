"""What a study leaves behind: the best configuration as a suite file, and its plots."""

from __future__ import annotations

import warnings
from pathlib import Path

from harness.study.space import objective_key, trial_suite


def export_best(suite, params, path: Path, name: str, number: int, value: float) -> None:
    """A runnable suite holding the best configuration (``ganbench validate``/``run`` take it)."""
    import tomli_w

    reduced = trial_suite(suite, params)
    variant = reduced.variants[0]
    data = {
        "name": f"{suite.name}-best",
        "version": suite.version,
        "description": f"Best trial {number} of study {name}: {objective_key(suite)} = {value!r}",
        "seeds": reduced.seeds,
        "datasets": [d.model_dump(mode="json", exclude_none=True) for d in reduced.datasets],
        "variants": [variant.model_dump(mode="json", exclude_none=True)],
        "budget": reduced.budget.model_dump(mode="json", exclude_none=True),
        "evaluation": reduced.evaluation.model_dump(mode="json", exclude_none=True),
    }
    header = (
        f"# Exported by `ganbench study` from study '{name}', trial {number}.\n"
        "# Its [[variants]] entry is the override block to paste into another suite.\n"
    )
    path.write_text(header + tomli_w.dumps(data))


def write_plots(study, out: Path) -> list[Path]:
    """Optimisation history, parameter importances and intermediate values (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as plots

    written = []
    for name, draw in (
        ("optimization_history", plots.plot_optimization_history),
        ("param_importances", plots.plot_param_importances),
        ("intermediate_values", plots.plot_intermediate_values),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = draw(study)
            axes.figure.savefig(out / f"{name}.png", dpi=90, bbox_inches="tight")
            plt.close(axes.figure)
            written.append(out / f"{name}.png")
        except (
            ValueError,
            RuntimeError,
            ZeroDivisionError,
            optuna.exceptions.OptunaError,
        ) as error:
            # e.g. importances need two complete trials with varying parameters
            (out / f"{name}.txt").write_text(f"not drawn: {error}\n")
    return written


# ---------------------------------------------------------------------------------------
# compare_gan's protocol: wide → narrow → top-k over more seeds.
