"""Cell identity: stable when nothing that shapes a result changes, and changed exactly when
something does.

- The spec hashes of the shipped suites' cells are pinned (``tests/data/suite_hashes.json``).
- An axis added with a default that keeps today's behaviour leaves every hash unchanged.
- Each registered recipe, net, loss, penalty, normalisation and dataset carries a version that enters
  the hash of exactly the cells using it; its source is pinned to that version here, so code
  that changes behaviour without a version bump fails this test instead of silently reusing
  old results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import typing
from pathlib import Path

import pytest
from conftest import REPO

from harness.config import VariantSpec, expand, load_suite

PINNED = Path(__file__).parent / "data" / "suite_hashes.json"
SHIPPED = sorted((REPO / "suites").rglob("*.toml"))  # paper suites included


def suite_hashes() -> dict[str, dict[str, str]]:
    """Every shipped cell's hash, as on a machine without local datasets (a suite whose data
    are missing runs on its fallback dataset, e.g. stacked-mnist on stacked digits)."""
    import os
    import tempfile

    home = os.environ.get("HOME")
    with tempfile.TemporaryDirectory() as empty:
        os.environ["HOME"] = empty
        try:
            return {
                path.relative_to(REPO / "suites").as_posix(): {
                    cell.cell_name: cell.spec_hash for cell in expand(load_suite(path))
                }
                for path in SHIPPED
            }
        finally:
            if home is None:
                del os.environ["HOME"]
            else:
                os.environ["HOME"] = home


def test_shipped_suite_hashes_are_pinned():
    pinned = json.loads(PINNED.read_text())
    assert suite_hashes() == pinned, (
        "a shipped suite's cell changed identity: if that is intended (a suite edit or a "
        "version bump), regenerate tests/data/suite_hashes.json with "
        "`python tests/test_identity.py`"
    )


def test_an_axis_added_at_its_default_keeps_every_hash():
    class Extended(VariantSpec):
        ADDED_AXES: typing.ClassVar[frozenset[str]] = VariantSpec.ADDED_AXES | {"new_axis"}
        new_axis: int = 0

    for cell in expand(load_suite(REPO / "suites" / "nightly-cpu.toml")):
        extended = Extended(**cell.variant.model_dump())
        same = dataclasses.replace(cell, variant=extended)
        assert same.spec_hash == cell.spec_hash
        moved = dataclasses.replace(cell, variant=extended.model_copy(update={"new_axis": 1}))
        assert moved.spec_hash != cell.spec_hash


def test_a_version_bump_changes_exactly_the_cells_that_use_the_entry(monkeypatch):
    from harness.variants import LOSSES

    cells = expand(load_suite(REPO / "suites" / "nightly-cpu.toml"))
    before = {c.cell_name: c.spec_hash for c in cells}
    meta = LOSSES.meta("hinge")
    monkeypatch.setitem(meta, "version", meta.get("version", 1) + 1)
    after = {c.cell_name: c.spec_hash for c in expand(load_suite(REPO / "suites/nightly-cpu.toml"))}
    changed = {name for name in before if before[name] != after[name]}
    assert changed and changed == {c.cell_name for c in cells if c.variant.loss == "hinge"}


def _entries():
    from harness.data import DATASETS
    from harness.recipes import RECIPES
    from harness.variants import ARCHITECTURES, LOSSES, NORMALIZATIONS, PENALTIES

    for axis, registry in (
        ("dataset", DATASETS),
        ("recipe", RECIPES),
        ("architecture", ARCHITECTURES),
        ("loss", LOSSES),
        ("penalty", PENALTIES),
        ("normalization", NORMALIZATIONS),
    ):
        for entry in registry:
            yield f"{axis}:{entry.name}", entry, registry


def _sources(axis_name: str, entry) -> list[Path]:
    """The files whose code decides what an entry does."""
    package = REPO / "harness"
    axis = axis_name.split(":")[0]
    if axis == "architecture":
        return [Path(inspect.getsourcefile(entry.load())), package / "variants/nets/common.py"]
    if axis == "normalization":  # implemented inside the nets
        return sorted((package / "variants/nets").glob("*.py"))
    if axis == "dataset":
        return [Path(inspect.getsourcefile(entry.load())), package / "data/transforms.py"]
    if axis == "recipe":
        return [Path(inspect.getsourcefile(entry.load())), package / "recipes/base.py"]
    module = {"loss": "variants/losses.py", "penalty": "variants/penalties.py"}[axis]
    return [package / module]


def fingerprints() -> dict[str, list]:
    out = {}
    for name, entry, registry in _entries():
        digest = hashlib.sha256()
        for path in _sources(name, entry):
            digest.update(path.read_bytes())
        out[name] = [registry.meta(entry.name).get("version", 1), digest.hexdigest()[:16]]
    return out


def test_every_entry_source_is_pinned_to_its_version():
    pinned = json.loads((Path(__file__).parent / "data" / "code_versions.json").read_text())
    current = fingerprints()
    changed = sorted(k for k in current if pinned.get(k) != current[k])
    assert not changed, (
        f"the code of {', '.join(changed)} changed: bump the `version` of each entry whose "
        "behaviour changed (a formatting-only change needs none), then regenerate "
        "tests/data/code_versions.json with `python tests/test_identity.py`"
    )


if __name__ == "__main__":  # regenerate the pins after an intended change
    (Path(__file__).parent / "data").mkdir(exist_ok=True)
    PINNED.write_text(json.dumps(suite_hashes(), indent=1, sort_keys=True) + "\n")
    versions = json.dumps(fingerprints(), indent=1, sort_keys=True) + "\n"
    (Path(__file__).parent / "data" / "code_versions.json").write_text(versions)
    print(f"wrote {PINNED} and code_versions.json")
    pytest.main([__file__, "-q"])
