"""Registered variant presets: each is a point on the axes, written as a few lines of data.

A preset is a function of the dataset kind ("points" or "images") returning the axis values
that differ from ``VariantSpec``'s defaults, with the paper's default hyperparameters. Suites
may override any axis of a preset, so ablations are configuration, not code.

On 2-D points every preset takes a 2-d latent, as PacGAN's 2-D ring and grid experiments do
(Lin et al. 2018; z ~ N(0, I₂)); a 64-d latent mapped onto a plane spread its samples and
kept the high-quality fraction near zero at CPU budgets.
"""

from __future__ import annotations

from harness.registry import Registry

PRESETS = Registry("variant")


POINTS_LATENT_DIM = 2


def register_variant(name: str):
    """Register a preset function under ``name`` (its docstring's first line is the summary);
    on 2-D points the preset's latent size is ``POINTS_LATENT_DIM``."""

    def decorator(preset):
        def for_kind(kind: str) -> dict:
            axes = preset(kind)
            return {**axes, "latent_dim": POINTS_LATENT_DIM} if kind == "points" else axes

        for_kind.__doc__, for_kind.__name__ = preset.__doc__, preset.__name__
        PRESETS.register(name, for_kind)
        return preset

    return decorator


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
        "latent_dim": 100,
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
