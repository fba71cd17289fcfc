"""``ganbench eval``: re-score the checkpoints of finished cells with the current metric
definitions, adding what is missing to the same MLflow runs; nothing is retrained and a metric
already logged at a checkpoint's step is never logged again."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.config import RunSpec


@dataclass
class Rescored:
    cell: RunSpec
    run_id: str | None
    added: dict = field(default_factory=dict)
    kept: int = 0  # metrics already there, left alone
    reason: str = ""


def _missing(tracker, run_id: str, scores: dict, step: int) -> dict:
    """The scores that the run does not yet have at ``step``."""
    return {k: v for k, v in scores.items() if step not in tracker.logged_steps(run_id, k)}


def rescore_cell(cell: RunSpec, results: Path, device, tracker, data_cache: dict) -> Rescored:
    """Score the final and best checkpoints of one finished cell and log what is new."""
    from harness.evaluate.evaluator import Evaluator
    from harness.runner import cache_root, cell_data, read_state, run_dir_of
    from harness.train.checkpoint import load_checkpoint
    from harness.train.loop import Trainer

    run_dir = run_dir_of(cell, results)
    state = read_state(run_dir)
    run_id = state.get("run_id")
    if (
        state.get("status") not in ("completed", "time_limit")
        or not (run_dir / "checkpoint.pt").exists()
    ):
        return Rescored(cell, run_id, reason=f"not finished ({state.get('status', 'never run')})")
    data = cell_data(cell, data_cache, results)
    evaluator = Evaluator(cell.evaluation, data, device, cache_root(results), cell.dataset_params)
    trainer = Trainer(cell, data, device, evaluator, run_dir)
    trainer.resume(run_dir / "checkpoint.pt")
    sampler = trainer.recipe.sampler()

    result = Rescored(cell, run_id)
    step = trainer.images_seen
    final = evaluator.evaluate(sampler, final=True)
    final = {
        k: v
        for k, v in final.items()
        if k not in ("eval_seconds", "eval_share", "eval_reference_cached")
    }
    targets = [(final, step)]
    if (run_dir / "best.pt").exists():
        best_state = load_checkpoint(run_dir / "best.pt")
        sampler.load_state_dict(best_state["generator"])
        best = evaluator.score(*evaluator.generate(sampler), sampler.conditional)
        best = {f"best/{k}": v for k, v in best.items() if k != "eval_reference_cached"}
        targets.append((best, step))  # best/ scores are logged at the final step, as in training
    for scores, at in targets:
        new = _missing(tracker, run_id, scores, at)
        result.kept += len(scores) - len(new)
        if new:
            tracker.log_metrics(run_id, new, step=at)
            result.added.update(new)
    tracker.set_tags(run_id, evaluator.describe())
    return result


def rescore_suite(
    suite, results: Path, device: str = "auto", only: dict | None = None, run_id: str | None = None
) -> list[Rescored]:
    """Re-score every finished cell of a suite (or the one whose MLflow run is ``run_id``)."""
    from harness.config import expand, select
    from harness.runner import read_state, resolve_device, run_dir_of
    from harness.track.mlflow_tracker import MlflowTracker

    results = Path(results)
    cells = select(expand(suite), only or {})
    if run_id is not None:
        cells = [c for c in cells if read_state(run_dir_of(c, results)).get("run_id") == run_id]
    torch_device = resolve_device(device)
    tracker = MlflowTracker(results, suite.experiment)
    data_cache: dict = {}
    return [rescore_cell(cell, results, torch_device, tracker, data_cache) for cell in cells]
