"""Registered variant presets: each is a point on the axes, written as a few lines of data.

A preset is a function of the dataset kind ("points" or "images") returning the axis values
that differ from ``VariantSpec``'s defaults, with the paper's default hyperparameters. Suites
may override any axis of a preset, so ablations are configuration, not code.
"""

from __future__ import annotations

from harness.registry import Registry

PRESETS = Registry("variant")


def register_variant(name: str):
    """Register a preset function under ``name`` (its docstring's first line is the summary)."""
    return PRESETS.register(name)


def _conv_or_mlp(kind: str) -> str:
    return "dcgan" if kind == "images" else "mlp"


@register_variant("gan")
def gan(kind: str) -> dict:
    """Vanilla GAN, MLP G/D, non-saturating loss (Goodfellow et al. 2014, arXiv:1406.2661).

    The paper trains with SGD+momentum and k=1 D step; we use Adam(2e-4, β1=0.5), the
    setting later work standardised on for this baseline, so the MLP trains within CPU budgets.
    """
    return {"architecture": "mlp", "loss": "nonsaturating"}


@register_variant("dcgan")
def dcgan(kind: str) -> dict:
    """DCGAN: conv G/D with batch norm, Adam(2e-4, β1=0.5), batch 128, z=100 (Radford et al. 2016)."""
    return {
        "architecture": _conv_or_mlp(kind),
        "loss": "nonsaturating",
        "normalization": "batch",
        "batch_size": 128,
        "latent_dim": 100 if kind == "images" else 64,
    }


@register_variant("cgan")
def cgan(kind: str) -> dict:
    """Conditional GAN: G and D see the class label (Mirza & Osindero 2014, arXiv:1411.1784)."""
    return {"architecture": _conv_or_mlp(kind), "loss": "nonsaturating", "conditional": True}


@register_variant("wgan")
def wgan(kind: str) -> dict:
    """WGAN: critic with weight clipping c=0.01, RMSprop(5e-5), 5 critic steps (Arjovsky et al. 2017)."""
    rmsprop = {"name": "rmsprop", "lr": 5e-5}
    return {
        "architecture": _conv_or_mlp(kind),
        "loss": "wasserstein",
        "penalty": "weight_clip",
        "clip_value": 0.01,
        "d_steps": 5,
        "g_opt": rmsprop,
        "d_opt": rmsprop,
    }


@register_variant("wgan_gp")
def wgan_gp(kind: str) -> dict:
    """WGAN-GP: gradient penalty λ=10, Adam(1e-4, β=(0, 0.9)), 5 critic steps, no batch norm in D (Gulrajani et al. 2017)."""
    adam = {"name": "adam", "lr": 1e-4, "betas": (0.0, 0.9)}
    return {
        "architecture": _conv_or_mlp(kind),
        "loss": "wasserstein",
        "penalty": "gradient_penalty",
        "penalty_weight": 10.0,
        "normalization": "layer",
        "d_steps": 5,
        "g_opt": adam,
        "d_opt": adam,
    }


@register_variant("lsgan")
def lsgan(kind: str) -> dict:
    """LSGAN: least-squares loss (a=0, b=c=1), Adam(2e-4, β1=0.5) (Mao et al. 2017, arXiv:1611.04076)."""
    return {
        "architecture": _conv_or_mlp(kind),
        "loss": "least_squares",
        "normalization": "batch",
    }


@register_variant("sngan")
def sngan(kind: str) -> dict:
    """SNGAN: spectral norm on every D layer + hinge loss, Adam(2e-4, β=(0.5, 0.999)), n_dis=1 (Miyato et al. 2018)."""
    return {
        "architecture": _conv_or_mlp(kind),
        "loss": "hinge",
        "normalization": "spectral",
    }
