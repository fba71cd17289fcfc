"""Metrics registry and the evaluator the runner calls.

A metric is registered with ``higher_is_better`` (drives ranking and study direction) and the
dataset kinds it applies to. Its function takes an ``EvalContext`` and returns a float or
``None`` (undefined for this sample, e.g. no high-quality samples), never a sentinel number.
"""

from harness.registry import Registry

METRICS = Registry("metric")


def register_metric(name: str, target: str, *, higher_is_better: bool, kinds: tuple, doc: str):
    METRICS.register(name, target, doc=doc, higher_is_better=higher_is_better, kinds=kinds)


register_metric(
    "modes_covered",
    "harness.evaluate.modes:modes_covered",
    higher_is_better=True,
    kinds=("points",),
    doc="Modes that are the nearest mode of at least one high-quality sample (VEEGAN/PacGAN).",
)
register_metric(
    "high_quality_fraction",
    "harness.evaluate.modes:high_quality_fraction",
    higher_is_better=True,
    kinds=("points",),
    doc="Fraction of samples within 3 std of their nearest mode (VEEGAN/PacGAN).",
)
register_metric(
    "reverse_kl",
    "harness.evaluate.modes:reverse_kl",
    higher_is_better=False,
    kinds=("points",),
    doc="KL(modes of high-quality samples ‖ uniform over modes), in nats (PacGAN).",
)
