"""A suite's dataset entry: a registered dataset, its parameters, and the fallback used when
its files are not on this machine."""

from __future__ import annotations

from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.config.base import Strict, _check_name
from harness.registry import did_you_mean


class FallbackDataset(Strict):
    """The dataset a suite entry uses when its own data are not on this machine."""

    name: str
    params: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        from harness.data import DATASETS

        return _check_name(DATASETS, value)


class DatasetEntry(Strict):
    name: str
    label: str | None = Field(None, min_length=1, description="display name; defaults to name")
    params: dict[str, Any] = {}
    fallback: FallbackDataset | None = Field(
        None,
        description="the dataset to use (same label, its own name and params) when this one's "
        "files are not found locally, e.g. stacked digits for stacked MNIST",
    )
    # Why the fallback replaced the dataset named in the file ("" when it did not).
    _fallback_reason: str = PrivateAttr("")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        from harness.data import DATASETS

        return _check_name(DATASETS, value)

    @model_validator(mode="after")
    def _params(self) -> DatasetEntry:
        self.resolved_params()
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _fallback(cls, data: Any, handler) -> DatasetEntry:
        """The entry as written, or, when its data are not on this machine and it names a
        fallback, the fallback under the same label (saying why in ``fallback_reason``)."""
        entry = handler(data)
        from harness.data import DATASETS, missing

        if entry.fallback is None:
            if DATASETS.meta(entry.name).get("missing_is_error"):
                reason = missing(entry.name, entry.resolved_params())
                if reason:
                    raise ValueError(f"params.root: {reason}; allowed: an existing folder")
            return entry

        label = entry.display_name
        used = handler(
            {"name": entry.fallback.name, "params": entry.fallback.params, "label": label}
        )
        if used.kind != entry.kind:
            raise ValueError(
                f"fallback.name: '{used.name}' holds {used.kind}, not {entry.kind} like "
                f"'{entry.name}'; allowed: a dataset of the same kind"
            )
        reason = missing(entry.name, entry.resolved_params())
        if not reason:
            return entry
        used._fallback_reason = f"{reason}: using {used.name} instead"
        return used

    @property
    def fallback_reason(self) -> str:
        """Why this entry runs on its fallback dataset ("" when it runs on its own)."""
        return self._fallback_reason

    @property
    def display_name(self) -> str:
        return self.label or self.name

    @property
    def kind(self) -> str:
        from harness.data import DATASETS

        return DATASETS.meta(self.name)["kind"]

    @property
    def resolution(self) -> int | None:
        """The image size the nets are built for (None for points)."""
        from harness.data import DATASETS

        if self.kind != "images":
            return None
        return self.resolved_params().get("resolution") or DATASETS.meta(self.name)["resolution"]

    def resolved_params(self) -> dict[str, Any]:
        """The dataset's parameters with defaults filled in, validated by its own model."""
        from harness.data import DATASETS

        model = DATASETS.meta(self.name)["params"]
        try:
            return model(**self.params).model_dump()
        except ValidationError as error:
            detail = error.errors()[0]
            key = ".".join(str(p) for p in detail["loc"])
            if detail["type"] == "extra_forbidden":
                allowed = list(model.model_fields)
                raise ValueError(
                    f"params.{key}: unknown parameter of dataset '{self.name}'; allowed: "
                    f"{', '.join(allowed)}{did_you_mean(key, allowed)}"
                ) from None
            got = f" (got {detail['input']!r})" if "input" in detail else ""
            raise ValueError(f"params.{key}: {detail['msg']}{got}") from None
