"""One generic registry: named entries with metadata and "did you mean" errors.

Variants, losses, penalties, architectures, datasets and metrics all live in a ``Registry``.
Entries may be registered lazily as a ``"module:attribute"`` string so that listing and
validating names never imports torch.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


class UnknownNameError(KeyError, ValueError):
    """Raised when a name is not registered; the message lists what is allowed."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not want that.
        return str(self.args[0])


def did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


@dataclass
class Entry:
    name: str
    target: Any
    meta: dict[str, Any] = field(default_factory=dict)
    doc: str = ""

    def load(self) -> Any:
        """The registered object, importing it first when it was registered by path."""
        if isinstance(self.target, str):
            self.target = load_path(self.target)
        return self.target


def load_path(target: str) -> Any:
    """The object a "module:attribute" path names, imported on first use."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


class Registry:
    """A name → entry mapping for one kind of thing (e.g. "loss")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, target: Any = None, *, doc: str = "", **meta: Any):
        """Register ``target`` under ``name``; used bare it works as a decorator."""
        if target is None:

            def decorator(obj: Callable) -> Callable:
                self.register(name, obj, doc=doc, **meta)
                return obj

            return decorator
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        if not doc and not isinstance(target, str):
            doc = (getattr(target, "__doc__", None) or "").strip().split("\n")[0]
        self._entries[name] = Entry(name, target, dict(meta), doc)
        return target

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'; allowed: {', '.join(self.names())}"
                + did_you_mean(name, self.names())
            ) from None

    def get(self, name: str) -> Any:
        return self.entry(name).load()

    def meta(self, name: str) -> dict[str, Any]:
        return self.entry(name).meta

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[name] for name in self.names())

    def __len__(self) -> int:
        return len(self._entries)
