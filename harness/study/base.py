"""What the parts of a study share: its one-line error and a phase (one Optuna study)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import SearchParam


class StudyError(ValueError):
    """A study that cannot run as asked; ``str()`` is the one-line message."""


# ---------------------------------------------------------------------------------------
# Definition: which study, which phase, where.


@dataclass
class Phase:
    """One Optuna study: the wide search, or compare_gan's narrow search around it."""

    name: str  # the Optuna study name
    label: str  # "wide" or "narrow"
    space: dict[str, SearchParam]
    trials: int | None
