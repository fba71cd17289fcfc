"""Style metrics of style-based generators (StyleGAN; Karras, Laine & Aila 2019, §3.1 and
Fig. 3): what the styles of each group of layers carry, read by the domain classifier.

``coarse_style_margin``: the bank's latents split into pairs (A, B); for each pair the image
with A's styles on the coarse layers (those of 4×4 and 8×8, the paper's "coarse styles") and
B's on the rest, and the reverse. Over the pairs whose own images get different labels, the
fraction of mixed images labelled as their coarse source minus the fraction labelled as their
fine source: near +1 when the coarse styles decide the class (the digit's identity), near −1
when the fine ones do. Undefined until G runs layers above 8×8.
"""

from __future__ import annotations

import torch

from harness.evaluate.fidelity import to_uint8_rgb

COARSE_LAYERS = 4  # the style layers of 4×4 and 8×8
CHUNK = 500


def _classes(context, images: torch.Tensor) -> torch.Tensor:
    logits = context.classifier_bridge.features(to_uint8_rgb(images))["logits"]
    return logits.argmax(dim=1).cpu()


def _mixed(sampler, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor | None:
    parts = []
    with torch.no_grad():
        for start in range(0, len(first), CHUNK):
            end = start + CHUNK
            images = sampler.mix(first[start:end], second[start:end], COARSE_LAYERS)
            if images is None:
                return None
            parts.append(images.cpu())
    return torch.cat(parts)


def coarse_style_margin(context) -> float | None:
    from harness.evaluate.image_metrics import predicted_classes

    sampler, z = context.sampler, context.inputs
    if sampler is None or not hasattr(sampler, "mix") or z is None or len(z) < 2:
        return None
    half = len(z) // 2
    a, b = z[:half], z[half : 2 * half]
    coarse_a, coarse_b = _mixed(sampler, a, b), _mixed(sampler, b, a)
    if coarse_a is None or coarse_b is None:
        return None
    labels = predicted_classes(context).cpu()
    label_a, label_b = labels[:half], labels[half : 2 * half]
    differ = label_a != label_b
    if not differ.any():
        return None
    mixed_a, mixed_b = _classes(context, coarse_a), _classes(context, coarse_b)
    follows_coarse = torch.cat([mixed_a == label_a, mixed_b == label_b])
    follows_fine = torch.cat([mixed_a == label_b, mixed_b == label_a])
    both = torch.cat([differ, differ])
    return float(follows_coarse[both].double().mean() - follows_fine[both].double().mean())
