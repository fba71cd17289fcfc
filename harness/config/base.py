"""What every part of a suite file shares: the strict model base, TOML list types, name checks
and the one-line error type."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

from harness.registry import Registry


class SuiteError(ValueError):
    """A suite file that cannot be used; ``str()`` is the one-line message for the user."""


class Strict(BaseModel):
    """Unknown keys are errors and nothing is coerced: a string for a number, a float for an
    int or an int for a bool is rejected (TOML has the types; a wrong one is a mistake)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# TOML arrays arrive as lists; strict mode would reject them for tuple fields.
Pair = Annotated[tuple[float, float], BeforeValidator(_list_to_tuple)]
Names = Annotated[tuple[str, ...], BeforeValidator(_list_to_tuple)]
Numbers = Annotated[tuple[float, ...], BeforeValidator(_list_to_tuple)]


def _check_name(registry: Registry, name: str | None) -> str | None:
    if name is not None:
        registry.entry(name)  # raises UnknownNameError, a ValueError, with did-you-mean
    return name
