"""What a study searches: its definition, seeds, direction and objective, the sampler and
pruner, suggesting parameters and the suite a trial runs."""

from __future__ import annotations

from typing import Any

from harness.config import SearchParam, SuiteSpec, apply_params
from harness.study.base import Phase


def definition(suite: SuiteSpec, phase: Phase) -> dict:
    """What makes two runs of the command the same study; stored with the Optuna study."""
    variant, dataset = suite.study_target()
    study = suite.study
    return {
        "objective": study.objective,
        "space": {k: v.model_dump(mode="json") for k, v in sorted(phase.space.items())},
        "variant": variant.model_dump(mode="json", exclude={"name"}),
        "dataset": {"name": dataset.name, "params": dataset.resolved_params()},
        "seeds": trial_seeds(suite),
        "budget": suite.budget.model_dump(mode="json", exclude={"max_minutes"}),
        "evaluation": suite.evaluation.model_dump(
            mode="json", exclude={"metrics", "extractor", "inception_weights"}
        ),
        "sampler": study.sampler.model_dump(mode="json"),
        "pruner": study.pruner.model_dump(mode="json"),
    }


def trial_seeds(suite: SuiteSpec) -> list[int]:
    return list(suite.study.seeds or suite.seeds)


def direction(suite: SuiteSpec) -> str:
    from harness.evaluate import METRICS

    higher = METRICS.meta(suite.study.objective)["higher_is_better"]
    return "maximize" if higher else "minimize"


def objective_key(suite: SuiteSpec) -> str:
    from harness.evaluate import REFERENCE_METRICS, metric_key

    _, dataset = suite.study_target()
    evaluation, reference = suite.evaluation, None
    if dataset.kind == "images" and suite.study.objective in REFERENCE_METRICS:
        from harness.data import load_dataset

        train_size = len(load_dataset(dataset.name, dataset.resolved_params()).train_x)
        reference = min(evaluation.num_samples, train_size)
    return metric_key(
        suite.study.objective,
        dataset.kind,
        evaluation.num_samples,
        evaluation.extractor,
        reference,
        evaluation.is_splits,
    )


def make_sampler(suite: SuiteSpec, trial_number: int = 0):
    """The suite's sampler for the study's trial number n, seeded with seed + n: workers
    that share the ask lock, and a study continued by a re-run, never replay one another's
    draws (one sampler per process seeded alike did: a second command's first trials
    repeated the first's parameters), and one worker's study is reproducible. (Called after
    ``open_storage``, which has silenced Optuna's experimental warnings.)"""
    import optuna

    spec = suite.study.sampler
    seed = spec.seed + trial_number
    if spec.name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if spec.name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.GPSampler(seed=seed)


def make_pruner(suite: SuiteSpec):
    import optuna

    spec = suite.study.pruner
    if spec.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=spec.startup_trials, n_warmup_steps=spec.warmup_ticks
        )
    if spec.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if spec.name == "hyperband":
        max_resource = suite.budget.ticks * len(trial_seeds(suite))
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_resource)
    return optuna.pruners.NopPruner()


def suggest(trial, space: dict[str, SearchParam]) -> dict[str, Any]:
    params = {}
    for path, param in space.items():
        if param.type == "float":
            params[path] = trial.suggest_float(
                path, param.low, param.high, log=param.log, step=param.step
            )
        elif param.type == "int":
            params[path] = trial.suggest_int(
                path, int(param.low), int(param.high), log=param.log, step=int(param.step or 1)
            )
        else:
            params[path] = trial.suggest_categorical(path, param.choices)
    return params


def trial_suite(suite: SuiteSpec, params: dict[str, Any], seeds: list[int] | None = None):
    """The suite reduced to the tuned variant (with ``params`` applied) and dataset."""
    variant, dataset = suite.study_target()
    return suite.model_copy(
        update={
            "variants": [apply_params(variant, params)],
            "datasets": [dataset],
            "seeds": list(seeds or trial_seeds(suite)),
            "study": None,
        }
    )


# ---------------------------------------------------------------------------------------
# Counting towards the study's size.
