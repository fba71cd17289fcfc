"""Variants as points on independent axes: losses, penalties, architectures, presets."""

from harness.variants.losses import LOSSES
from harness.variants.nets import ARCHITECTURES, NORMALIZATIONS
from harness.variants.penalties import PENALTIES
from harness.variants.presets import PRESETS

__all__ = ["ARCHITECTURES", "LOSSES", "NORMALIZATIONS", "PENALTIES", "PRESETS"]
