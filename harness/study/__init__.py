"""Hyperparameter studies: Optuna driving the runner's own ``run_one``.

A suite's ``[study]`` block names the variant and dataset to tune, the objective metric (its
direction is the metric's ``higher_is_better``), the search space over variant axes, the size
(trials and/or minutes), the seeds each trial averages over, the sampler and the pruner.

- Storage: ``sqlite:///<results>/optuna.db`` by default, any Optuna RDB URL (PostgreSQL for
  several machines) or ``journal:PATH`` (a journal file). RDB storages get a heartbeat: a trial
  whose worker died is failed after 3 heartbeats of silence and retried once per failure (up to
  twice) with the same parameters, resuming from the dead trial's checkpoint.
- Size: before a worker asks for a trial it counts, under a lock, the trials that count towards
  the study (finished, running, waiting; a failed trial that was retried counts through its
  retry), so N local workers end with exactly the requested number.
- Each trial is one MLflow child run of the study's parent run (one parent per study, across
  re-runs), with the cell runs of its seeds nested under it; they carry the benchmark runs' tags.
- Pruning is fed by the evaluation ticks: step = seed index × ticks + tick.

Files: ``storage`` (where a study lives), ``space`` (what it searches), ``worker`` (one worker
process, ``python -m harness.study``), ``run`` (the study command), ``protocol``
(compare_gan's wide/narrow/final phases), ``outputs`` (best configuration, plots).
"""

from harness.study.base import Phase, StudyError
from harness.study.protocol import final_phase, narrow_phase, wide_phase
from harness.study.run import StudyResult, run_phase, run_study
from harness.study.space import objective_key, trial_suite
from harness.study.storage import default_storage, open_storage, optuna_study, study_dir
from harness.study.worker import Worker

__all__ = [
    "Phase",
    "StudyError",
    "StudyResult",
    "Worker",
    "default_storage",
    "final_phase",
    "narrow_phase",
    "objective_key",
    "open_storage",
    "optuna_study",
    "run_phase",
    "run_study",
    "study_dir",
    "trial_suite",
    "wide_phase",
]
