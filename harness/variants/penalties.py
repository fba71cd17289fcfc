"""Discriminator penalties, one signature for all.

``term(discriminator, real, fake, labels, generator, **settings) -> tensor`` is added to the D
loss, scaled by the variant's ``penalty_weight``; ``settings`` are the variant axes the entry
names in ``Penalty.settings`` (``Penalty.settings_of(spec)``); ``after_step(discriminator,
variant)`` runs after each D optimiser step (weight clipping lives there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.registry import Registry

PENALTIES = Registry("penalty")


@dataclass(frozen=True)
class Penalty:
    term: Any = None
    after_step: Any = None
    settings: tuple[str, ...] = ()  # variant axes passed to ``term`` by name

    def settings_of(self, spec) -> dict:
        return {name: getattr(spec, name) for name in self.settings}


def gradient_penalty(discriminator, real, fake, labels, generator, penalty_target=1.0):
    """Two-sided gradient penalty on real/fake interpolates (Gulrajani et al. 2017); with a
    target norm γ ≠ 1, ((‖∇‖ − γ)/γ)² as ProGAN's CIFAR-10 runs (γ = 750)."""
    import torch

    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator).to(real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = discriminator(mixed, labels)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    if penalty_target == 1.0:
        return (grad.flatten(1).norm(dim=1) - 1).square().mean()
    return ((grad.flatten(1).norm(dim=1) - penalty_target) / penalty_target).square().mean()


def r1_penalty(discriminator, real, fake, labels, generator):
    """R1: half the squared norm of D's gradient at the real images, batch mean (Mescheder et
    al. 2018), so that penalty_weight is γ as StyleGAN's papers state it."""
    import torch

    real = real.detach().requires_grad_(True)
    out = discriminator(real, labels)
    (grad,) = torch.autograd.grad(out.sum(), real, create_graph=True)
    return 0.5 * grad.flatten(1).square().sum(dim=1).mean()


def clip_weights(discriminator, variant) -> None:
    """Clamp every critic parameter to [-c, c] (Arjovsky et al. 2017)."""
    import torch

    with torch.no_grad():
        for p in discriminator.parameters():
            p.clamp_(-variant.clip_value, variant.clip_value)


PENALTIES.register("none", Penalty(), doc="No penalty.")
PENALTIES.register(
    "gradient_penalty",
    Penalty(term=gradient_penalty, settings=("penalty_target",)),
    doc="Gradient penalty, weight = penalty_weight, target norm penalty_target (WGAN-GP, Gulrajani et al. 2017).",
)
PENALTIES.register(
    "r1",
    Penalty(term=r1_penalty),
    doc="R1 on reals, (γ/2)·E‖∇D(x)‖² with γ = penalty_weight (Mescheder et al. 2018; StyleGAN).",
)
PENALTIES.register(
    "weight_clip",
    Penalty(after_step=clip_weights),
    doc="Weight clipping to [-clip_value, clip_value] (WGAN, Arjovsky et al. 2017).",
)
