"""compare_gan's protocol (Kurach et al. 2019): a wide search, a narrow search around its
best trials, and the top configurations re-run on more seeds."""

from __future__ import annotations

import json
import statistics

from harness.config import SearchParam, SuiteSpec, apply_params
from harness.study.base import Phase, StudyError
from harness.study.space import direction, objective_key
from harness.study.storage import optuna_study, study_dir, study_name
from harness.study.worker import _short


def wide_phase(suite: SuiteSpec) -> Phase:
    return Phase(study_name(suite), "wide", dict(suite.study.space), suite.study.trials)


def ranked(study) -> list:
    """Complete trials, best first."""
    import optuna

    complete = [
        t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE
    ]
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(complete, key=lambda t: (t.value if not reverse else -t.value, t.number))


def narrow_space(space: dict[str, SearchParam], top: list) -> dict[str, SearchParam]:
    """The box spanned by the best trials: [min, max] of their values, and the categories
    they used."""
    narrowed = {}
    for path, param in space.items():
        values = [t.params[path] for t in top if path in t.params]
        if param.type == "categorical":
            narrowed[path] = param.model_copy(
                update={"choices": [c for c in param.choices if c in values]}
            )
        else:
            narrowed[path] = param.model_copy(update={"low": min(values), "high": max(values)})
    return narrowed


def narrow_phase(suite: SuiteSpec, storage_url: str) -> Phase:

    protocol = suite.study.protocol
    wide = optuna_study(suite, storage_url)
    top = ranked(wide)[: protocol.narrow_from]
    if not top:
        raise StudyError(f"study {wide.study_name}: no complete trial to narrow the search around")
    space = narrow_space(suite.study.space, top)
    return Phase(f"{study_name(suite)}-narrow", "narrow", space, protocol.narrow_trials)


def final_phase(suite, storage_url, results, device, stream, phase_name: str) -> dict:
    """Re-run the top-k configurations over the protocol's seeds through the benchmark runner;
    mean ± std of the objective per configuration."""

    from harness.runner import run_suite

    protocol = suite.study.protocol
    study = optuna_study(suite, storage_url, phase_name)
    top = ranked(study)[: protocol.top_k]
    if not top:
        raise StudyError(f"study {phase_name}: no complete trial to re-run")
    variant, dataset = suite.study_target()
    entries = [
        apply_params(variant, t.params).model_copy(
            update={"name": f"{study_name(suite)}-top{i + 1}"}
        )
        for i, t in enumerate(top)
    ]
    final_suite = suite.model_copy(
        update={
            "name": f"{study_name(suite)}-final",
            "variants": entries,
            "datasets": [dataset],
            "seeds": list(protocol.final_seeds),
            "study": None,
        }
    )
    print(
        f"protocol: re-running the top {len(top)} configurations of {phase_name} over seeds "
        f"{protocol.final_seeds}",
        file=stream,
        flush=True,
    )
    outcome = run_suite(final_suite, results, device, stream=stream)
    key = objective_key(suite)
    rows = []
    for i, trial in enumerate(top):
        name = entries[i].display_name
        values = [
            r.record.get(key)
            for r in outcome.results
            if r.cell.variant_name == name and r.status == "completed"
        ]
        values = [v for v in values if v is not None]
        rows.append(
            {
                "config": name,
                "trial": trial.number,
                "study_value": trial.value,
                "params": trial.params,
                "values": values,
                "n": len(values),
                "mean": statistics.fmean(values) if values else None,
                "std": statistics.stdev(values) if len(values) > 1 else None,
            }
        )
    out = study_dir(results, study_name(suite))
    summary = {
        "objective": key,
        "direction": direction(suite),
        "seeds": protocol.final_seeds,
        "rows": rows,
    }
    (out / "final.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
    lines = [f"| config | trial | {key} mean ± std (n) | params |", "|---|---|---|---|"]
    for row in rows:
        spread = f" ± {row['std']:.4g}" if row["std"] is not None else ""
        mean = f"{row['mean']:.5g}{spread} ({row['n']})" if row["mean"] is not None else "—"
        params = ", ".join(f"{k}={_short(v)}" for k, v in row["params"].items())
        lines.append(f"| {row['config']} | {row['trial']} | {mean} | {params} |")
    (out / "final.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), file=stream, flush=True)
    return summary
