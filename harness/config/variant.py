"""The axes of a variant: optimisers, the resolved ``VariantSpec`` and a suite's variant entry
(a preset with overrides)."""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
)

from harness.config.base import Names, Pair, Strict, _check_name

if TYPE_CHECKING:
    from harness.config.dataset import DatasetEntry

# ---------------------------------------------------------------------------------------
# The axes of a variant.


def _optimizer_name(value: str | None) -> str | None:
    from harness.variants.optimizers import OPTIMIZERS

    return _check_name(OPTIMIZERS, value)


class OptimizerSpec(Strict):
    name: str = "adam"
    lr: float = Field(2e-4, gt=0)
    betas: Pair = (0.5, 0.999)
    momentum: float = Field(0.0, ge=0)
    weight_decay: float = Field(0.0, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _optimizer_name(value)


class OptimizerOverride(Strict):
    name: str | None = None
    lr: float | None = Field(None, gt=0)
    betas: Pair | None = None
    momentum: float | None = Field(None, ge=0)
    weight_decay: float | None = Field(None, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return _optimizer_name(value)


TRANSLATION_AXES = (
    "norm_layer",
    "dropout",
    "dropout_layers",
    "d_layers",
    "kernel",
    "downsamplings",
    "blocks",
    "l1_weight",
    "cycle_weight",
    "identity_weight",
    "pool_size",
    "lr_decay",
    "tied",
)


def _resolution_key(value: Any) -> Any:
    """TOML table keys are strings: "16" names resolution 16."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


Resolution = typing.Annotated[int, BeforeValidator(_resolution_key)]

GROWING_AXES = ("stabilise_kimg", "fade_kimg", "drift", "reg_interval", "batch_sizes")
STYLE_AXES = ("mapping_layers", "mapping_lr", "style_mixing")
SEQUENCE_AXES = (
    "embedding_dim",
    "grad_clip",
    "pretrain_kimg",
    "d_pretrain_kimg",
    "rollouts",
    "adversarial_lr",
    "reference_size",
    "rank_gamma",
    "soft_argmax",
    "mmd_sigma",
    "mmd_weight",
    "recon_weight",
    "goal_size",
    "step_size",
    "mle_every",
)
KARRAS_AXES = (
    "fmap_base",
    "fmap_max",
    "penalty_target",
    "d_divisor",
    "equalized",
    "minibatch_stddev",
)


class VariantSpec(Strict):
    """A fully resolved variant: one value on every axis.

    Axes added after spec protocol 1 go in ``ADDED_AXES``: they enter a cell's hash only when
    set away from their default, so adding an axis leaves every existing cell's hash as it was.
    """

    ADDED_AXES: typing.ClassVar[frozenset[str]] = frozenset(
        {
            "recipe",
            "pack",
            "attention",
            "g_spectral",
            "d_width",
            "shared_embedding",
            "hierarchical_z",
            "ortho_reg",
            "init",
            *TRANSLATION_AXES,
            *GROWING_AXES,
            *STYLE_AXES,
            *KARRAS_AXES,
            *SEQUENCE_AXES,
        }
    )

    preset: str
    recipe: str = Field("adversarial", description="the training recipe; the preset names it")
    architecture: str = "mlp"
    loss: str = "nonsaturating"
    penalty: str = "none"
    penalty_weight: float = Field(10.0, ge=0)
    clip_value: float = Field(0.01, gt=0)
    normalization: str = "none"
    conditional: bool = False
    g_opt: OptimizerSpec = OptimizerSpec()
    d_opt: OptimizerSpec = OptimizerSpec()
    d_steps: int = Field(1, ge=1)
    ema: float = Field(0.0, ge=0, lt=1, description="G EMA decay; 0 turns EMA off")
    batch_size: int = Field(64, ge=1)
    latent_dim: int = Field(64, ge=1)
    width: int = Field(128, ge=1, description="hidden units (MLP) or base channels (conv)")
    depth: int = Field(3, ge=1, description="hidden layers of the MLP")
    pack: int = Field(1, ge=1, description="PacGAN: samples D judges at once (1: no packing)")
    attention: int = Field(0, ge=0, description="feature size of G's and D's self-attention")
    g_spectral: bool = Field(False, description="spectral normalisation of G's weight layers")
    d_width: int = Field(0, ge=0, description="D's width when not width (resnet, maxout)")
    shared_embedding: int = Field(0, ge=0, description="BigGAN shared class embedding size")
    hierarchical_z: bool = Field(False, description="BigGAN: a chunk of z per G block")
    ortho_reg: float = Field(0.0, ge=0, description="BigGAN orthogonal regularisation of G")
    init: Literal["default", "orthogonal"] = Field("default", description="weight init")
    # Image translation (pix2pix, CycleGAN): nets, then recipe weights and schedule.
    norm_layer: Literal["batch", "instance"] = Field(
        "instance", description="normalisation inside the translation nets"
    )
    dropout: float = Field(0.0, ge=0, lt=1, description="U-Net decoder dropout, on at test too")
    dropout_layers: int = Field(3, ge=0, description="U-Net: innermost decoder layers with dropout")
    d_layers: int = Field(3, ge=1, description="PatchGAN depth (3 with kernel 4: 70×70 patches)")
    kernel: Literal[3, 4] = Field(
        4,
        description="4: the papers' nets (4×4 PatchGAN, 7×7 translator ends); 3: 3×3, small images",
    )
    downsamplings: int = Field(2, ge=0, description="ResNet translator: stride-2 convs each way")
    blocks: int = Field(6, ge=0, description="ResNet translator: residual blocks")
    l1_weight: float = Field(0.0, ge=0, description="pix2pix: weight of L1 to the paired target")
    cycle_weight: float = Field(0.0, ge=0, description="CycleGAN: weight λ of each cycle L1")
    identity_weight: float = Field(
        0.0, ge=0, description="CycleGAN: identity L1 weight, as a fraction of cycle_weight"
    )
    pool_size: int = Field(0, ge=0, description="CycleGAN: generated images D sees from a history")
    lr_decay: float = Field(
        0.0,
        ge=0,
        le=1,
        description="fraction of the run at its end where the LR falls linearly to 0",
    )
    tied: bool = Field(False, description="CoGAN: G's first and D's last layers shared by domains")
    # Progressive growing (ProGAN): the schedule, in thousands of real images, and the drift.
    stabilise_kimg: float = Field(0.0, ge=0, description="ProGAN: kimg at each resolution, α = 1")
    fade_kimg: float = Field(0.0, ge=0, description="ProGAN: kimg of each fade-in (α 0 → 1)")
    drift: float = Field(0.0, ge=0, description="ProGAN: weight of E[D(x)²] on reals in D's loss")
    reg_interval: int = Field(
        1, ge=1, description="lazy regularisation: D's penalty every N D steps, weighted by N"
    )
    batch_sizes: dict[Resolution, int] = Field(
        default_factory=dict,
        description="ProGAN/StyleGAN: the batch size at each resolution (others: batch_size)",
    )
    # The Karras et al. nets' feature maps per resolution, and WGAN-GP's target norm.
    fmap_base: int = Field(
        0, ge=0, description="ProGAN/StyleGAN: channels min(fmap_base/2^stage, fmap_max); 0: width"
    )
    fmap_max: int = Field(0, ge=0, description="ProGAN/StyleGAN: the most channels (0: fmap_base)")
    penalty_target: float = Field(
        1.0, gt=0, description="gradient_penalty: the target norm γ, (λ/γ²)(‖∇‖ − γ)²"
    )
    # ProGAN's mode-recovery ablation (architecture progan_mode).
    d_divisor: int = Field(1, ge=1, description="progan_mode: D's channels divided by this (K)")
    equalized: bool = Field(
        True, description="progan_mode: equalised LR and pixel norm (false: batch norm)"
    )
    minibatch_stddev: bool = Field(True, description="progan_mode: D's minibatch-stddev map")
    # Sequence models (text GANs, MLE).
    embedding_dim: int = Field(32, ge=1, description="token embedding size (SeqGAN: 32)")
    grad_clip: float = Field(
        0.0, ge=0, description="global gradient-norm clip of G's updates (0: none; SeqGAN 5)"
    )
    pretrain_kimg: float = Field(0.0, ge=0, description="SeqGAN: kimg of G's MLE pretraining")
    d_pretrain_kimg: float = Field(0.0, ge=0, description="SeqGAN: kimg of D's pretraining")
    rollouts: int = Field(16, ge=1, description="SeqGAN: Monte-Carlo completions per prefix")
    adversarial_lr: float = Field(
        0.0, ge=0, description="text GANs: G's learning rate after pretraining (0: g_opt's)"
    )
    reference_size: int = Field(16, ge=1, description="RankGAN: real sentences in a reference set")
    rank_gamma: float = Field(1.0, gt=0, description="RankGAN: γ of the ranking softmax")
    soft_argmax: float = Field(1000.0, gt=0, description="TextGAN: L of softmax(L · logits)")
    mmd_sigma: float = Field(20.0, gt=0, description="TextGAN: the Gaussian kernel's bandwidth")
    mmd_weight: float = Field(0.001, ge=0, description="TextGAN: weight of −MMD² in D's loss")
    recon_weight: float = Field(
        0.001, ge=0, description="TextGAN: weight of D's reconstruction of z"
    )
    goal_size: int = Field(16, ge=1, description="LeakGAN: size of the worker's goal embedding")
    step_size: int = Field(4, ge=1, description="LeakGAN: c, the manager's horizon in tokens")
    mle_every: int = Field(
        0, ge=0, description="LeakGAN: one MLE batch every N adversarial steps (0: none)"
    )
    # Style-based G (StyleGAN).
    mapping_layers: int = Field(8, ge=1, description="StyleGAN: dense layers of z → w")
    mapping_lr: float = Field(
        0.01, gt=0, le=1, description="StyleGAN: the mapping net's learning-rate multiplier"
    )
    style_mixing: float = Field(
        0.0, ge=0, le=1, description="StyleGAN: probability of mixing two latents' styles"
    )


# Axes only some architectures implement, and which: set elsewhere, they are an error.
ARCHITECTURE_AXES = {
    "shared_embedding": ("resnet",),
    "hierarchical_z": ("resnet",),
    "attention": ("resnet",),
    "g_spectral": ("resnet",),
    "d_width": ("resnet", "maxout", "unet", "resnet_translator", "lstm", "latent_lstm", "leakgan"),
    "norm_layer": ("unet", "resnet_translator"),
    "dropout": ("unet",),
    "dropout_layers": ("unet",),
    "d_layers": ("unet", "resnet_translator"),
    "kernel": ("unet", "resnet_translator"),
    "downsamplings": ("resnet_translator",),
    "blocks": ("resnet_translator",),
    "mapping_layers": ("stylegan",),
    "mapping_lr": ("stylegan",),
    "embedding_dim": ("lstm", "latent_lstm", "leakgan"),
    "fmap_base": ("progan", "stylegan", "progan_mode"),
    "fmap_max": ("progan", "stylegan", "progan_mode"),
    "d_divisor": ("progan_mode",),
    "equalized": ("progan_mode",),
    "minibatch_stddev": ("progan_mode",),
}

TEXT_GANS = ("seqgan", "rankgan", "textgan", "leakgan")

# Axes only some recipes use, and which.
RECIPE_AXES = {
    "l1_weight": ("pix2pix",),
    "cycle_weight": ("cyclegan",),
    "identity_weight": ("cyclegan",),
    "pool_size": ("cyclegan",),
    "lr_decay": ("pix2pix", "cyclegan"),
    "tied": ("cogan",),
    "stabilise_kimg": ("progan", "stylegan"),
    "fade_kimg": ("progan", "stylegan"),
    "drift": ("progan", "stylegan"),
    "reg_interval": ("progan", "stylegan"),
    "batch_sizes": ("progan", "stylegan"),
    "style_mixing": ("stylegan",),
    "grad_clip": ("mle", *TEXT_GANS),
    "pretrain_kimg": TEXT_GANS,
    "d_pretrain_kimg": TEXT_GANS,
    "rollouts": ("seqgan", "rankgan", "leakgan"),
    "adversarial_lr": TEXT_GANS,
    "reference_size": ("rankgan",),
    "rank_gamma": ("rankgan",),
    "soft_argmax": ("textgan",),
    "mmd_sigma": ("textgan",),
    "mmd_weight": ("textgan",),
    "recon_weight": ("textgan",),
    "goal_size": ("leakgan",),
    "step_size": ("leakgan",),
    "mle_every": ("leakgan",),
}


class VariantEntry(Strict):
    """A variant as written in a suite: a preset plus optional overrides of any axis."""

    preset: str
    name: str | None = Field(None, min_length=1)
    datasets: Names | None = Field(
        None, min_length=1, description="labels of the suite's datasets it runs on (all)"
    )
    architecture: str | None = None
    loss: str | None = None
    penalty: str | None = None
    penalty_weight: float | None = Field(None, ge=0)
    clip_value: float | None = Field(None, gt=0)
    normalization: str | None = None
    conditional: bool | None = None
    g_opt: OptimizerOverride | None = None
    d_opt: OptimizerOverride | None = None
    d_steps: int | None = Field(None, ge=1)
    ema: float | None = Field(None, ge=0, lt=1)
    batch_size: int | None = Field(None, ge=1)
    latent_dim: int | None = Field(None, ge=1)
    width: int | None = Field(None, ge=1)
    depth: int | None = Field(None, ge=1)
    pack: int | None = Field(None, ge=1)
    attention: int | None = Field(None, ge=0)
    g_spectral: bool | None = None
    d_width: int | None = Field(None, ge=0)
    shared_embedding: int | None = Field(None, ge=0)
    hierarchical_z: bool | None = None
    ortho_reg: float | None = Field(None, ge=0)
    init: Literal["default", "orthogonal"] | None = None
    norm_layer: Literal["batch", "instance"] | None = None
    dropout: float | None = Field(None, ge=0, lt=1)
    dropout_layers: int | None = Field(None, ge=0)
    d_layers: int | None = Field(None, ge=1)
    kernel: Literal[3, 4] | None = None
    downsamplings: int | None = Field(None, ge=0)
    blocks: int | None = Field(None, ge=0)
    l1_weight: float | None = Field(None, ge=0)
    cycle_weight: float | None = Field(None, ge=0)
    identity_weight: float | None = Field(None, ge=0)
    pool_size: int | None = Field(None, ge=0)
    lr_decay: float | None = Field(None, ge=0, le=1)
    tied: bool | None = None
    stabilise_kimg: float | None = Field(None, ge=0)
    fade_kimg: float | None = Field(None, ge=0)
    drift: float | None = Field(None, ge=0)
    reg_interval: int | None = Field(None, ge=1)
    embedding_dim: int | None = Field(None, ge=1)
    grad_clip: float | None = Field(None, ge=0)
    pretrain_kimg: float | None = Field(None, ge=0)
    d_pretrain_kimg: float | None = Field(None, ge=0)
    rollouts: int | None = Field(None, ge=1)
    adversarial_lr: float | None = Field(None, ge=0)
    reference_size: int | None = Field(None, ge=1)
    rank_gamma: float | None = Field(None, gt=0)
    soft_argmax: float | None = Field(None, gt=0)
    mmd_sigma: float | None = Field(None, gt=0)
    mmd_weight: float | None = Field(None, ge=0)
    recon_weight: float | None = Field(None, ge=0)
    goal_size: int | None = Field(None, ge=1)
    step_size: int | None = Field(None, ge=1)
    mle_every: int | None = Field(None, ge=0)
    batch_sizes: dict[Resolution, int] | None = None
    mapping_layers: int | None = Field(None, ge=1)
    mapping_lr: float | None = Field(None, gt=0, le=1)
    style_mixing: float | None = Field(None, ge=0, le=1)
    fmap_base: int | None = Field(None, ge=0)
    fmap_max: int | None = Field(None, ge=0)
    penalty_target: float | None = Field(None, gt=0)
    d_divisor: int | None = Field(None, ge=1)
    equalized: bool | None = None
    minibatch_stddev: bool | None = None

    @field_validator("preset")
    @classmethod
    def _preset(cls, value: str) -> str:
        from harness.variants import PRESETS

        return _check_name(PRESETS, value)

    @field_validator("architecture", "loss", "penalty", "normalization")
    @classmethod
    def _axis(cls, value: str | None, info) -> str | None:
        import harness.variants as variants

        registry = {
            "architecture": variants.ARCHITECTURES,
            "loss": variants.LOSSES,
            "penalty": variants.PENALTIES,
            "normalization": variants.NORMALIZATIONS,
        }[info.field_name]
        return _check_name(registry, value)

    @property
    def display_name(self) -> str:
        return self.name or self.preset

    def runs_on(self, dataset: DatasetEntry) -> bool:
        return self.datasets is None or dataset.display_name in self.datasets

    def resolve(self, kind: str) -> VariantSpec:
        """The preset's axes for this dataset kind, with this entry's overrides on top."""
        from harness.variants import ARCHITECTURES, PRESETS

        kinds = PRESETS.meta(self.preset).get("kinds", ("points", "images"))
        if kind not in kinds:
            fits = [n for n in PRESETS.names() if kind in PRESETS.meta(n).get("kinds", (kind,))]
            raise ValueError(
                f"preset '{self.preset}' fits {' and '.join(kinds)} datasets, not {kind}; "
                f"allowed on {kind}: {', '.join(fits)}; or run it on some datasets only "
                "(datasets = [...])"
            )
        values: dict[str, Any] = {"preset": self.preset, **PRESETS.get(self.preset)(kind)}
        for key, value in self.model_dump(
            exclude={"preset", "name", "datasets"}, exclude_none=True
        ).items():
            if isinstance(value, dict):
                value = {**values.get(key, {}), **value}
            values[key] = value
        spec = VariantSpec(**values)
        if (
            spec.architecture == "mlp"
            and spec.depth < 2
            and spec.normalization in ("batch", "layer")
        ):
            raise ValueError(
                f"normalization '{spec.normalization}' acts on the MLP discriminator's hidden "
                "layers after its input layer; allowed: depth >= 2, or normalization none/spectral"
            )
        for axis, architectures in ARCHITECTURE_AXES.items():
            default = VariantSpec.model_fields[axis].get_default(call_default_factory=True)
            if getattr(spec, axis) != default and spec.architecture not in architectures:
                raise ValueError(
                    f"{axis} is implemented by the {', '.join(architectures)} architecture, "
                    f"not '{spec.architecture}'; allowed: {axis} = {default!r} (its default) "
                    f"or architecture = {' or '.join(architectures)}"
                )
        from harness.recipes import RECIPES

        for axis, recipes in RECIPE_AXES.items():
            default = VariantSpec.model_fields[axis].get_default(call_default_factory=True)
            if getattr(spec, axis) != default and spec.recipe not in recipes:
                raise ValueError(
                    f"{axis} is a setting of the {', '.join(recipes)} recipe, not "
                    f"'{spec.recipe}' (preset '{spec.preset}'); allowed: {axis} = {default!r} "
                    f"(its default), or a preset of that recipe"
                )
        if spec.recipe in ("progan", "stylegan") and spec.stabilise_kimg > 0 >= spec.fade_kimg:
            raise ValueError(
                f"stabilise_kimg {spec.stabilise_kimg:g} is a growth phase, but fade_kimg 0 "
                f"keeps {spec.recipe}'s structure fixed at the final resolution; allowed: "
                "fade_kimg > 0 (grown from 4×4) or stabilise_kimg = 0 (not grown)"
            )
        if spec.recipe in ("progan", "stylegan"):
            sizes = {"batch_size": spec.batch_size}
            sizes |= {f"batch_sizes[{r}]": b for r, b in sorted(spec.batch_sizes.items())}
            for name, size in sizes.items():
                if size < 1 or (size > 4 and size % 4):
                    raise ValueError(
                        f"{name} {size} does not split into ProGAN's minibatch-stddev groups "
                        "of 4; allowed: a multiple of 4 (or 1 to 4)"
                    )
            bad = [r for r in spec.batch_sizes if r < 4 or r & (r - 1)]
            if bad:
                raise ValueError(
                    f"batch_sizes: {bad[0]} is not a resolution; allowed: powers of two from 4"
                )
        losses = RECIPES.meta(spec.recipe).get("losses")
        if losses is not None and spec.loss not in losses:
            raise ValueError(
                f"loss '{spec.loss}' is not one recipe '{spec.recipe}' trains with; allowed: "
                + ", ".join(losses)
            )
        family = ARCHITECTURES.meta(spec.architecture).get("family", "latent")
        wanted = RECIPES.meta(spec.recipe).get("family", "latent")
        if family != wanted:
            fits = [
                n
                for n in ARCHITECTURES.names()
                if ARCHITECTURES.meta(n).get("family", "latent") == wanted
            ]
            raise ValueError(
                f"architecture '{spec.architecture}' is a {family} architecture, which recipe "
                f"'{spec.recipe}' does not train; allowed: {', '.join(fits)}"
            )
        if spec.conditional and not ARCHITECTURES.meta(spec.architecture).get("conditional", 1):
            raise ValueError(
                f"architecture '{spec.architecture}' is unconditional; allowed: conditional = "
                "false, or another architecture"
            )
        from harness.variants import PENALTIES

        if (
            spec.penalty_target != 1.0
            and "penalty_target" not in PENALTIES.get(spec.penalty).settings
        ):
            raise ValueError(
                f"penalty_target is the target gradient norm of the gradient penalty, not of "
                f"penalty '{spec.penalty}'; allowed: penalty_target = 1.0, or penalty = "
                "gradient_penalty"
            )
        if spec.shared_embedding and not spec.conditional:
            raise ValueError(
                "shared_embedding embeds the class label (BigGAN); allowed: shared_embedding = "
                "0 for an unconditional variant, or conditional = true"
            )
        if spec.pack > 1 and spec.conditional:
            raise ValueError(
                f"pack {spec.pack} packs unconditional samples (PacGAN); allowed: pack = 1 "
                "for a conditional variant"
            )
        if kind not in ARCHITECTURES.meta(spec.architecture)["kinds"]:
            raise ValueError(
                f"architecture '{spec.architecture}' does not fit {kind} datasets; allowed: "
                + ", ".join(
                    n for n in ARCHITECTURES.names() if kind in ARCHITECTURES.meta(n)["kinds"]
                )
            )
        return spec


# ---------------------------------------------------------------------------------------
# The suite file.
