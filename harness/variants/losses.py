"""Adversarial losses, one signature for all: ``d_loss(real, fake)`` and ``g_loss(fake)``.

``real`` and ``fake`` are the discriminator's raw outputs (logits / critic values). Every
loss returns a scalar tensor to minimise. torch is imported inside the functions so that the
registry can be listed without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.registry import Registry

LOSSES = Registry("loss")


@dataclass(frozen=True)
class Loss:
    d_loss: Any
    g_loss: Any


def _softplus(x):
    from torch.nn.functional import softplus

    return softplus(x)


def _minimax_d(real, fake):
    return _softplus(-real).mean() + _softplus(fake).mean()


LOSSES.register(
    "minimax",
    Loss(_minimax_d, lambda fake: -_softplus(fake).mean()),
    doc="Original minimax loss: G minimises log(1 - D(G(z))) (Goodfellow et al. 2014).",
)
LOSSES.register(
    "nonsaturating",
    Loss(_minimax_d, lambda fake: _softplus(-fake).mean()),
    doc="Non-saturating loss: G maximises log D(G(z)) (Goodfellow et al. 2014, Sec. 3).",
)
LOSSES.register(
    "wasserstein",
    Loss(lambda real, fake: fake.mean() - real.mean(), lambda fake: -fake.mean()),
    doc="Wasserstein critic loss (Arjovsky et al. 2017).",
)
LOSSES.register(
    "hinge",
    Loss(
        lambda real, fake: (1 - real).clamp_min(0).mean() + (1 + fake).clamp_min(0).mean(),
        lambda fake: -fake.mean(),
    ),
    doc="Hinge loss (Lim & Ye 2017; Miyato et al. 2018).",
)
LOSSES.register(
    "least_squares",
    Loss(
        lambda real, fake: 0.5 * (real - 1).square().mean() + 0.5 * fake.square().mean(),
        lambda fake: 0.5 * (fake - 1).square().mean(),
    ),
    doc="Least-squares loss with a=0, b=c=1 (Mao et al. 2017).",
)
