"""Optimisers, registered like every other axis value: ``build(spec, parameters)`` returns a
torch optimiser for an ``OptimizerSpec`` (name, lr, betas, momentum, weight_decay). Listing
and validating names never imports torch."""

from __future__ import annotations

from harness.registry import Registry

OPTIMIZERS = Registry("optimizer")


@OPTIMIZERS.register("adam", doc="Adam (Kingma & Ba 2015): lr, betas, weight_decay.")
def adam(spec, parameters):
    import torch

    return torch.optim.Adam(parameters, spec.lr, betas=spec.betas, weight_decay=spec.weight_decay)


@OPTIMIZERS.register(
    "rmsprop", doc="RMSprop (Tieleman & Hinton 2012), as WGAN uses: lr, weight_decay."
)
def rmsprop(spec, parameters):
    import torch

    return torch.optim.RMSprop(parameters, spec.lr, weight_decay=spec.weight_decay)


@OPTIMIZERS.register(
    "sgd", doc="SGD with momentum, as Goodfellow et al. 2014: lr, momentum, weight_decay."
)
def sgd(spec, parameters):
    import torch

    return torch.optim.SGD(
        parameters, spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )


def make_optimizer(spec, parameters):
    """The registered optimiser ``spec.name`` over ``parameters``."""
    return OPTIMIZERS.get(spec.name)(spec, parameters)
