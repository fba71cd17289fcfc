"""Suite TOML → typed, frozen specs; matrix expansion; spec hashing.

Every error is turned into one line that names the file, the key, what is allowed and, for
names, the closest registered one. Nothing here imports torch.

- ``base``: the strict model base, TOML list types, name checks, ``SuiteError``;
- ``variant``: optimisers, the resolved ``VariantSpec``, a suite's variant entries;
- ``dataset``: a suite's dataset entries and their fallbacks;
- ``study``: the ``[study]`` table and applying a trial's parameters;
- ``suite``: the suite file itself (budget, evaluation, tracking, published numbers,
  nightly), its cross-key checks and ``load_suite``;
- ``cells``: expansion into cells (``RunSpec``), identity and hashing, ``--only``.
"""

from harness.config.base import Names, Numbers, Pair, Strict, SuiteError
from harness.config.cells import (
    EVAL_ONLY,
    SPEC_PROTOCOL,
    RunSpec,
    code_versions,
    expand,
    parse_only,
    select,
    without_new_defaults,
)
from harness.config.dataset import DatasetEntry, FallbackDataset
from harness.config.study import (
    ProtocolSpec,
    PrunerSpec,
    SamplerSpec,
    SearchParam,
    StudySpec,
    apply_params,
    searchable_paths,
)
from harness.config.suite import (
    BudgetSpec,
    EvaluationSpec,
    NightlySpec,
    PublishedEntry,
    SuiteSpec,
    TrackingSpec,
    format_validation_error,
    load_suite,
)
from harness.config.variant import (
    ARCHITECTURE_AXES,
    OptimizerOverride,
    OptimizerSpec,
    VariantEntry,
    VariantSpec,
)

__all__ = [
    "ARCHITECTURE_AXES",
    "EVAL_ONLY",
    "SPEC_PROTOCOL",
    "BudgetSpec",
    "DatasetEntry",
    "EvaluationSpec",
    "FallbackDataset",
    "Names",
    "NightlySpec",
    "Numbers",
    "OptimizerOverride",
    "OptimizerSpec",
    "Pair",
    "ProtocolSpec",
    "PrunerSpec",
    "PublishedEntry",
    "RunSpec",
    "SamplerSpec",
    "SearchParam",
    "Strict",
    "StudySpec",
    "SuiteError",
    "SuiteSpec",
    "TrackingSpec",
    "VariantEntry",
    "VariantSpec",
    "apply_params",
    "code_versions",
    "expand",
    "format_validation_error",
    "load_suite",
    "parse_only",
    "searchable_paths",
    "select",
    "without_new_defaults",
]
