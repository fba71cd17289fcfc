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


def register_variant(
    name: str, kinds: tuple[str, ...] = ("points", "images"), resolution: int | None = None
):
    """Register a preset function under ``name`` (its docstring's first line is the summary)
    for the dataset ``kinds`` it fits (and, when it is made for one image size, that
    ``resolution``); on 2-D points the preset's latent size is ``POINTS_LATENT_DIM``."""

    def decorator(preset):
        def for_kind(kind: str) -> dict:
            axes = preset(kind)
            return {**axes, "latent_dim": POINTS_LATENT_DIM} if kind == "points" else axes

        for_kind.__doc__, for_kind.__name__ = preset.__doc__, preset.__name__
        PRESETS.register(name, for_kind, kinds=kinds, resolution=resolution)
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


# Adam(1e-4, 4e-4) with β = (0, 0.999): SAGAN's two time-scale update rule, with the β of the
# BigGAN-PyTorch SAGAN script and StudioGAN's SAGAN configs at 64 and 128 px.
TTUR = ({"name": "adam", "lr": 1e-4, "betas": (0.0, 0.999)}, {"lr": 4e-4, "betas": (0.0, 0.999)})


@register_variant("sagan", kinds=("images",), resolution=16)
def sagan(kind: str) -> dict:
    """SAGAN: ResNet G/D with self-attention at 8×8, spectral norm in G and D, hinge loss, TTUR Adam(1e-4 G, 4e-4 D, β=(0, 0.999)), 1 D step (Zhang et al. 2019).

    Attention sits at 8×8, the second-highest feature size of 16-px images (the paper puts
    it at the larger maps; its 128-px configurations at 64×64); set ``attention = 16`` at
    32 px. Class-conditional BN in G and a projection D when ``conditional``.
    """
    g_opt, d_opt = TTUR
    return {
        "architecture": "resnet",
        "loss": "hinge",
        "normalization": "spectral",
        "g_spectral": True,
        "attention": 8,
        "g_opt": g_opt,
        "d_opt": {**g_opt, **d_opt},
        "d_steps": 1,
        "batch_size": 64,
        "latent_dim": 128,
        "width": 64,
    }


@register_variant("sagan_studiogan", kinds=("images",), resolution=32)
def sagan_studiogan(kind: str) -> dict:
    """SAGAN as StudioGAN trains it on CIFAR-10: Adam(2e-4, β=(0.5, 0.999)) for G and D, 5 D steps, batch 64, G 256 / D 128 channels, attention at 16×16.

    StudioGAN's CIFAR-10 SAGAN (src/configs/CIFAR10/SAGAN.yaml and its 2020 training log) is
    SNGAN with attention and spectral norm in G, not the paper's TTUR; this preset replays it
    so comparisons with the StudioGAN table are like for like. Set ``conditional = true`` for
    its class-conditional setting (cBN in G, projection D).
    """
    adam = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}
    return {
        "architecture": "resnet",
        "loss": "hinge",
        "normalization": "spectral",
        "g_spectral": True,
        "attention": 16,
        "g_opt": adam,
        "d_opt": adam,
        "d_steps": 5,
        "batch_size": 64,
        "latent_dim": 128,
        "width": 256,
        "d_width": 128,
    }


@register_variant("gan_pacgan2d", kinds=("points",))
def gan_pacgan2d(kind: str) -> dict:
    """The GAN of PacGAN's 2-D ring and grid experiments: MLP G 4×400 with batch norm, maxout D 3×200 (5 pieces), Adam(1e-4, β=(0.8, 0.999)), batch 100, z 2-d (Lin et al. 2018).

    Set ``pack = m`` for PacGANm: only D's first layer widens (fjxmlzn/PacGAN
    synthetic_data_experiments config.py values). The paper's code sets ``beta1 = 0.8`` in
    Blocks (the Blocks development version, through ALI's install instructions). Blocks'
    Adam has taken β1 in PyTorch's sense since mila-iqia/blocks PR #1176 (January 2017),
    before the PacGAN code (2017-18); before that PR ``beta1`` weighted the new gradient, which
    would make it β1 = 0.2 here. β2 is Blocks' default, 0.999 (0.001 in the old sense).
    The nets start from the code's init (N(0, 0.02²) weights, zero biases; architecture
    ``maxout``): with PyTorch's default init PacGAN4's D stayed at chance on the grid past
    128,000 steps, with the paper's it leaves chance between 30,000 and 45,000.
    """
    adam = {"name": "adam", "lr": 1e-4, "betas": (0.8, 0.999)}
    return {
        "architecture": "maxout",
        "loss": "nonsaturating",
        "g_opt": adam,
        "d_opt": adam,
        "batch_size": 100,
        "width": 400,
        "depth": 4,
        "d_width": 200,
    }


@register_variant("biggan", kinds=("images",), resolution=16)
def biggan(kind: str) -> dict:
    """BigGAN (class-conditional): SAGAN's nets plus a shared class embedding into every G block's BN, hierarchical z, orthogonal regularisation of G (β=1e-4), orthogonal init, EMA of G, Adam(1e-4 G, 4e-4 D, β=(0, 0.999)), 2 D steps (Brock et al. 2019).

    z has 120 entries (the paper's), split into one chunk per G block plus the stem (3 at
    16 px, 4 at 32 px); the shared embedding has 32 entries (the paper: 128) and G and D 64
    channels at CPU scale. The EMA decay is 0.999 (half-life ≈ 690 steps) rather than the
    paper's 0.9999, whose half-life (≈ 6,900 steps) is longer than a CPU run. Metrics are at
    no truncation; ``evaluation.truncation`` adds a sweep.
    """
    return {
        **sagan(kind),
        "conditional": True,
        "shared_embedding": 32,
        "hierarchical_z": True,
        "ortho_reg": 1e-4,
        "init": "orthogonal",
        "ema": 0.999,
        "d_steps": 2,
        "latent_dim": 120,
    }


@register_variant("biggan_studiogan", kinds=("images",), resolution=32)
def biggan_studiogan(kind: str) -> dict:
    """BigGAN as StudioGAN trains it on CIFAR-10: Adam(2e-4, β=(0.5, 0.999)), 5 D steps, z 80 in 4 chunks, shared embedding 128, G 384 / D 192 channels, attention at 16×16, orthogonal init, EMA 0.9999, no orthogonal regularisation.

    StudioGAN's src/configs/CIFAR10/BigGAN.yaml (its orthogonal regulariser is defined but
    never called); its EMA starts at step 1,000, which this preset does not model (EMA from
    the first step).
    """
    return {
        **sagan_studiogan(kind),
        "conditional": True,
        "shared_embedding": 128,
        "hierarchical_z": True,
        "init": "orthogonal",
        "ema": 0.9999,
        "latent_dim": 80,
        "width": 384,
        "d_width": 192,
    }


# -- image translation ----------------------------------------------------------------------

PIX2PIX_ADAM = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}


@register_variant("pix2pix", kinds=("images",), resolution=256)
def pix2pix(kind: str) -> dict:
    """Pix2Pix as published for 256-px images: U-Net G of 8 levels (C64-C128-C256-C512×5, down to 1×1) with dropout 0.5 in the innermost three decoder layers at training and test, 70×70 PatchGAN D on (source, output), cross-entropy GAN with D's loss halved, λ_L1 = 100, Adam(2e-4, β=(0.5, 0.999)), batch 1, instance norm, LR constant then linearly to 0 over the second half (Isola et al. 2017).

    Instance norm is what the paper's batch norm is at batch 1 with test-time batch
    statistics. At 128 px set ``depth = 7`` (unet_128); the PatchGAN keeps 70×70 patches.
    """
    return {
        "recipe": "pix2pix",
        "architecture": "unet",
        "loss": "nonsaturating",
        "norm_layer": "instance",
        "depth": 8,
        "width": 64,
        "dropout": 0.5,
        "d_layers": 3,
        "kernel": 4,
        "l1_weight": 100.0,
        "g_opt": PIX2PIX_ADAM,
        "d_opt": PIX2PIX_ADAM,
        "batch_size": 1,
        "lr_decay": 0.5,
    }


@register_variant("pix2pix_digits", kinds=("images",), resolution=8)
def pix2pix_digits(kind: str) -> dict:
    """Pix2Pix at CPU scale for 8-px images: U-Net of 3 levels (down to 1×1) and width 32, a PatchGAN of two 3×3 convs and a 1×1 (5×5 patches), batch 32; otherwise the paper's recipe (λ_L1 = 100, dropout 0.5, instance norm, cross-entropy, Adam(2e-4, β=(0.5, 0.999))).

    Deviations from the paper, recorded: batch 32, not 1 (throughput; instance norm keeps
    per-image statistics); 5×5 patches from 3×3 convs, because the paper's 4×4-kernel D sees
    at least 16×16 (the whole image); no LR decay (short runs); width 32, not 64; dropout in
    the innermost decoder layer only (``dropout_layers = 1``): the paper's three of eight act
    on maps of at most 4×4 of a 256-px image, while two of three here act on half the 8-px
    image. On lowres→digit at 100 kimg (3 seeds) that took L1 from 0.071 to 0.060 and label
    preservation from 0.918 to 0.938.
    """
    return {
        **pix2pix(kind),
        "dropout_layers": 1,
        "depth": 3,
        "width": 32,
        "d_layers": 2,
        "kernel": 3,
        "batch_size": 32,
        "lr_decay": 0.0,
    }


@register_variant("cyclegan", kinds=("images",), resolution=256)
def cyclegan(kind: str) -> dict:
    """CycleGAN as published for 256-px images: ResNet G (c7s1-64, d128, d256, 9 residual blocks, u128, u64, c7s1) and 70×70 PatchGAN D with instance norm, least-squares GAN with D's loss halved, cycle λ = 10 both ways, a history pool of 50, Adam(2e-4, β=(0.5, 0.999)), batch 1, LR constant then linearly to 0 over the second half (Zhu et al. 2017).

    ``identity_weight`` is a task setting: 0.5 (× λ) where colours must be kept (the paper's
    painting↔photo; the reference code's default) and harmful where the map changes
    intensities (digit↔inverted); it is 0 here. At 128 px set ``blocks = 6``.
    """
    return {
        "recipe": "cyclegan",
        "architecture": "resnet_translator",
        "loss": "least_squares",
        "norm_layer": "instance",
        "width": 64,
        "downsamplings": 2,
        "blocks": 9,
        "d_layers": 3,
        "kernel": 4,
        "cycle_weight": 10.0,
        "pool_size": 50,
        "g_opt": PIX2PIX_ADAM,
        "d_opt": PIX2PIX_ADAM,
        "batch_size": 1,
        "lr_decay": 0.5,
    }


@register_variant("cyclegan_digits", kinds=("images",), resolution=8)
def cyclegan_digits(kind: str) -> dict:
    """CycleGAN at CPU scale for 8-px images: ResNet G of width 32 with 3×3 convs, one downsampling and 2 residual blocks, a PatchGAN of two 3×3 convs and a 1×1 (5×5 patches), batch 32; otherwise the paper's recipe (least squares, λ = 10, pool 50, instance norm, Adam(2e-4, β=(0.5, 0.999))).

    Deviations from the paper, recorded: batch 32, not 1; 3×3 outer convs rather than 7×7
    and 5×5 patches (8-px images); one downsampling and 2 blocks, not 2 and 9; no LR decay.
    """
    return {
        **cyclegan(kind),
        "width": 32,
        "downsamplings": 1,
        "blocks": 2,
        "d_layers": 2,
        "kernel": 3,
        "batch_size": 32,
        "lr_decay": 0.0,
    }


# -- progressive growing ---------------------------------------------------------------------


@register_variant("progan_digits", kinds=("images",), resolution=16)
def progan_digits(kind: str) -> dict:
    """ProGAN at CPU scale: grown 4→8→16 at a constant 32 channels, 10 kimg per fade and per stabilisation, WGAN-GP (λ 10) with drift 0.001, Adam(1e-3, β=(0, 0.99)), batch 32, z 32, EMA 0.999 (Karras et al. 2018).

    Deviations from the paper's settings, recorded: 32 channels at every resolution (the
    paper: 512 halving above 32 px; its CIFAR-10 net 128), 10 kimg phases (the paper: 600–800),
    batch 32 (the paper: 16–128 by resolution), z 32 (the paper: 512).
    """
    adam = {"name": "adam", "lr": 1e-3, "betas": (0.0, 0.99)}
    return {
        "recipe": "progan",
        "architecture": "progan",
        "loss": "wasserstein",
        "penalty": "gradient_penalty",
        "penalty_weight": 10.0,
        "drift": 0.001,
        "g_opt": adam,
        "d_opt": adam,
        "batch_size": 32,
        "latent_dim": 32,
        "width": 32,
        "ema": 0.999,
        "stabilise_kimg": 10.0,
        "fade_kimg": 10.0,
    }


@register_variant("progan_cifar10", kinds=("images",), resolution=32)
def progan_cifar10(kind: str) -> dict:
    """ProGAN's CIFAR-10 run (Karras et al. 2018, §6.4) for a GPU and a local CIFAR-10: grown 4→32 with 400 kimg per fade and per stabilisation, the paper's nets with fmap_base 4096 and fmap_max 512 (512 channels to 16 px, 256 at 32 px), z 512, WGAN-GP with λ 10 and target norm γ 750, drift 0.001, Adam(1e-3, β=(0, 0.99)), batch 16, EMA 0.999.

    From the Theano configuration (original-theano-version ``config.py``, §6.4.2 block, over
    the A.1 baseline). Deviations, recorded: no learning-rate ramp-up (that block sets
    rampup_kimg 0 as well); the paper's total of 15,000 kimg is the suite's budget to set; its
    inception score 8.80 is from the best of its runs.
    """
    adam = {"name": "adam", "lr": 1e-3, "betas": (0.0, 0.99)}
    return {
        **progan_digits(kind),
        "g_opt": adam,
        "d_opt": adam,
        "batch_size": 16,
        "latent_dim": 512,
        "width": 512,
        "fmap_base": 4096,
        "fmap_max": 512,
        "penalty_target": 750.0,
        "stabilise_kimg": 400.0,
        "fade_kimg": 400.0,
    }


@register_variant("progan_mnist1k", kinds=("images",), resolution=32)
def progan_mnist1k(kind: str) -> dict:
    """ProGAN's mode-recovery experiment, its full row (Karras et al. 2018, App. E): the small nets of architecture progan_mode (fmap_base 64, fmap_max 256, D's channels divided by K = 4, the "crippled" discriminator) with equalised LR, pixel norm and minibatch stddev, grown 4→32 with 400 kimg per fade and per stabilisation; WGAN-GP (λ 10, no drift), 5 D steps per G step, Adam(1e-3, β=(0, 0.99)), batch 64, z 64, EMA 0.999.

    From the Theano configuration (original-theano-version ``config.py``, the App. E block
    over the A.1 baseline; the 32-px MNIST-RGB stacks are 28-px digits padded by 2). The
    ablation rows switch ``equalized``, ``minibatch_stddev`` and growing (``fade_kimg = 0``,
    ``stabilise_kimg = 0``) off; see suites/papers/progan-mode-recovery.toml. Deviations,
    recorded: no learning-rate ramp-up over the first 40 kimg; kimg counts the real images
    shown to D (every D step's batch).
    """
    adam = {"name": "adam", "lr": 1e-3, "betas": (0.0, 0.99)}
    return {
        "recipe": "progan",
        "architecture": "progan_mode",
        "loss": "wasserstein",
        "penalty": "gradient_penalty",
        "penalty_weight": 10.0,
        "d_steps": 5,
        "g_opt": adam,
        "d_opt": adam,
        "batch_size": 64,
        "latent_dim": 64,
        "fmap_base": 64,
        "fmap_max": 256,
        "d_divisor": 4,
        "ema": 0.999,
        "stabilise_kimg": 400.0,
        "fade_kimg": 400.0,
    }


def _ema_of_half_life(half_life_kimg: float, batch: int) -> float:
    """The per-step EMA decay whose half-life is ``half_life_kimg`` thousand images."""
    return round(0.5 ** (batch / (half_life_kimg * 1000)), 6)


@register_variant("stylegan_digits", kinds=("images",), resolution=16)
def stylegan_digits(kind: str) -> dict:
    """StyleGAN (v1) at CPU scale: z = w = 64, a 2-layer mapping net (learning rate × 0.01), a constant 4×4 input, 6 style layers (4, 4, 8, 8, 16, 16) of 32 channels with AdaIN and per-layer noise, style mixing p = 0.9, ProGAN's D; non-saturating logistic loss with R1 (γ 0.01), Adam(2.5e-3, β=(0, 0.99)), batch 32, EMA half-life 5 kimg; a fixed structure (no growing) (Karras et al. 2019).

    Deviations from the paper's settings, recorded: 32 channels (the paper: 512 to 32 px), a
    2-layer mapping net of 64 units (8 of 512; the small-image references use 2), R1 γ 0.01
    (10 on FFHQ; the CIFAR-scale references use 0.01), lr 2.5e-3 (those references' value;
    the paper 1e-3 at low resolution), nearest upsampling with the [1, 2, 1] blur after the
    conv, not grown (the paper grows from 8×8; set stabilise_kimg and fade_kimg to grow from
    4×4 on ProGAN's schedule), batch 32.
    """
    adam = {"name": "adam", "lr": 2.5e-3, "betas": (0.0, 0.99)}
    return {
        "recipe": "stylegan",
        "architecture": "stylegan",
        "loss": "nonsaturating",
        "penalty": "r1",
        "penalty_weight": 0.01,
        "mapping_layers": 2,
        "mapping_lr": 0.01,
        "style_mixing": 0.9,
        "g_opt": adam,
        "d_opt": adam,
        "batch_size": 32,
        "latent_dim": 64,
        "width": 32,
        "ema": _ema_of_half_life(5, 32),
    }


@register_variant("stylegan", kinds=("images",), resolution=64)
def stylegan(kind: str) -> dict:
    """StyleGAN (v1) at the paper's settings (FFHQ, config F) for 32–64 px on a GPU: z = w = 512, an 8-layer mapping net (learning rate × 0.01), the paper's channels (512, 256 at 64 px), style mixing p = 0.9, non-saturating logistic loss with R1 γ = 10, Adam(1e-3, β=(0, 0.99)), the paper's batch per resolution, EMA half-life 10 kimg; grown on ProGAN's schedule with 600 kimg per stabilisation and per fade (Karras et al. 2019).

    The paper's feature maps: fmap_base 8192, fmap_max 512 (512 channels to 32 px, 256 at 64).
    The batch follows the paper's single-GPU schedule (128 to 16 px, 64 at 32, 32 at 64).
    Deviations, recorded: growing starts at 4×4 (the paper: 8×8); the EMA's per-step decay is
    the 10-kimg half-life at batch 32 whatever the batch; nearest upsampling with the blur
    after the conv (the paper: bilinear). The paper trains 25,000 kimg; set the budget.
    """
    adam = {"name": "adam", "lr": 1e-3, "betas": (0.0, 0.99)}
    return {
        **stylegan_digits(kind),
        "penalty_weight": 10.0,
        "mapping_layers": 8,
        "g_opt": adam,
        "d_opt": adam,
        "latent_dim": 512,
        "width": 512,
        "fmap_base": 8192,
        "fmap_max": 512,
        "batch_sizes": {4: 128, 8: 128, 16: 128, 32: 64, 64: 32},
        "ema": _ema_of_half_life(10, 32),
        "stabilise_kimg": 600.0,
        "fade_kimg": 600.0,
    }


# -- token sequences -------------------------------------------------------------------------


@register_variant("mle", kinds=("sequences",))
def mle(kind: str) -> dict:
    """Maximum likelihood, the text GANs' baseline (text-gans reference §4.1): the LSTM generator of SeqGAN (embedding 32, hidden 32, N(0, 0.1²) initialisation), teacher-forced cross-entropy, Adam(1e-2), gradients clipped to a global norm of 5, batch 64 (Yu et al. 2017's code; Texygen's)."""
    adam = {"name": "adam", "lr": 1e-2, "betas": (0.9, 0.999)}
    return {
        "recipe": "mle",
        "architecture": "lstm",
        "loss": "nonsaturating",
        "g_opt": adam,
        "d_opt": adam,
        "batch_size": 64,
        "embedding_dim": 32,
        "width": 32,
        "grad_clip": 5.0,
    }


@register_variant("seqgan", kinds=("sequences",))
def seqgan(kind: str) -> dict:
    """SeqGAN (Yu et al. 2017) at the CPU tier: MLE's generator and optimiser, pretrained by maximum likelihood for 80 epochs of 10,000 sequences (800 kimg; Texygen's 80), D pretrained for 15 kimg, then adversarial steps of one policy-gradient update with 16 rollouts per prefix and 5 D updates; D a CNN with highway over filter widths 2–5 × 64 maps, Adam(1e-4).

    Deviations from the paper's code, recorded: a small D (the paper: 12 widths, 1,720 maps;
    Texygen's widths 2–3 with 100 and 200 maps), no L2 on D's output layer, 5 D updates on
    fresh batches per adversarial step (the paper: 5 × 3 epochs over 10,000 fresh samples),
    rollouts by the current G (the paper's code keeps a 0.8-smoothed copy it never uses).
    """
    return {
        **mle(kind),
        "recipe": "seqgan",
        "d_opt": {"name": "adam", "lr": 1e-4, "betas": (0.9, 0.999)},
        "d_steps": 5,
        "d_width": 64,
        "pretrain_kimg": 800.0,
        "d_pretrain_kimg": 15.0,
        "rollouts": 16,
    }


@register_variant("rankgan", kinds=("sequences",))
def rankgan(kind: str) -> dict:
    """RankGAN (Lin et al. 2017) at the CPU tier: SeqGAN's generator, schedule and rollouts
    (16 per prefix), the CNN with highway as a ranker scoring by cosine to 16 real reference
    sentences with γ = 1, Adam(1e-4) for the ranker and 5 ranker updates per G step (the
    authors' ref_size 16, γ 1, r_step 5, lr 1e-4, rollout_num 16).

    Deviations, recorded: batch 64 for G's policy step (the authors' 32), the small CNN of
    SeqGAN's preset (the authors': 12 widths), ranker updates on fresh batches (the authors':
    epochs), no rollout-policy smoothing.
    """
    return {
        **seqgan(kind),
        "recipe": "rankgan",
        "reference_size": 16,
        "rank_gamma": 1.0,
    }


@register_variant("leakgan", kinds=("sequences",))
def leakgan(kind: str) -> dict:
    """LeakGAN (Guo et al. 2018) at the CPU tier: manager and worker LSTMs of hidden 32 with
    embedding 32, goal size 16, horizon c = 4, 4 rollouts per segment boundary, the
    rank-rescaled rewards (δ = 16), Adam(1e-2) for G clipped at 5, D the small CNN with
    Adam(1e-4) and 5 updates per G step, one interleaved MLE batch every 15 adversarial steps
    (the original code's EMB/HIDDEN 32, GOAL_SIZE 16, STEP_SIZE 4, lr 0.01, 4 rollouts; its
    COCO schedule interleaves one MLE epoch every 15 adversarial batches).

    Deviations, recorded: one MLE batch (not epoch) per interleave, pretraining as one MLE
    phase then D's (the original alternates 10 rounds of D and MLE), the small D, sampling
    always at temperature 1 (the original's 1.5× logit scaling is off), and far less D
    training per G step: 5 batches, where the original synthetic code trains D for 5 rounds
    of 3 epochs on 10,000 fresh real and generated sentences after every G step. The worker's
    goal w_t projects the goals of the last c steps with the current one (the paper's eq. 5
    sums the c before it; the original code those of the last completed segment, and scales
    w_t to unit length, which this does not).

    Measured at this tier (3 seeds): G collapses, NLL-oracle 6.5-9.4 and held-out NLL 8-16
    against MLE's 5.8 and 4.8. The cause is G's own adversarial update at the paper's learning
    rate, not the weak D: from one pretrained state (seed 0), 100 D updates alone leave G's
    held-out NLL at 5.10 (from 5.07), while 20 adversarial steps at lr 1e-2 take it to 13
    with 17% of 2,000 samples repeated; at ``adversarial_lr = 1e-3`` or ``1e-4``, or with an
    MLE batch after every step (``mle_every = 1``), it stays at 5.1-5.5 over 120 steps. Whole
    cells at seed 0 (NLL-oracle / held-out NLL; MLE 5.73 / 4.82): ``adversarial_lr = 1e-3``
    4.57 / 5.57, sharper than MLE at T = 0.7 (4.65 / 5.15) but beaten on both by MLE at
    T = 0.6 (4.26 / 5.47); ``mle_every = 1`` 5.30 / 5.18, beaten by MLE at T = 0.85.
    """
    return {
        **seqgan(kind),
        "recipe": "leakgan",
        "architecture": "leakgan",
        "rollouts": 4,
        "goal_size": 16,
        "step_size": 4,
        "mle_every": 15,
    }


@register_variant("textgan", kinds=("sequences",))
def textgan(kind: str) -> dict:
    """TextGAN (Zhang et al. 2017) at the CPU tier: SeqGAN's LSTM (embedding 32, hidden 32)
    started from z ~ N(0, I_32), soft argmax with L = 1,000, G's loss MMD² of D's features
    under a Gaussian kernel of σ = 20, D's loss the GAN loss + 0.001 × reconstruction of z −
    0.001 × MMD², one D step per G step, Adam(1e-4) for D and Adam(5e-5) for G in the
    adversarial phase (the Theano code's sigma_range [20], lambda_recon = lambda_fm = 0.001,
    dg_ratio 1, lr_d 1e-4, lr_g 5e-5, Large 1e3); MLE pretraining as SeqGAN's preset (Adam
    1e-2, 80 epochs).

    Deviations, recorded: small nets (the paper: hidden 500, embedding 300, z 900, D 3 widths
    × 300 maps), batch 64 (256), D pretrained on real against generated sentences (the
    paper: a sentence-permutation task).
    """
    return {
        **seqgan(kind),
        "recipe": "textgan",
        "architecture": "latent_lstm",
        "latent_dim": 32,
        "adversarial_lr": 5e-5,
        "d_steps": 1,
        "soft_argmax": 1000.0,
        "mmd_sigma": 20.0,
        "mmd_weight": 0.001,
        "recon_weight": 0.001,
    }


# -- two coupled domains --------------------------------------------------------------------


@register_variant("cogan", kinds=("images",), resolution=8)
def cogan(kind: str) -> dict:
    """CoGAN at CPU scale: two G fed one z sharing their input-side layers (linear to 2×2, then transposed convs to half the image size) and two D sharing their output-side layers, cross-entropy, Adam(2e-4, β=(0.5, 0.999), weight decay 5e-4), batch 64, z 32 (Liu & Tuzel 2016).

    The official digits configurations use these optimiser settings (batch 128 and z 100 in
    Caffe, batch 64 in PyTorch) on 28-px MNIST with 3–4 shared G layers; at 8 and 16 px the
    nets are smaller: base width 32, the shared G layers end at half the image size.
    """
    adam = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999), "weight_decay": 5e-4}
    return {
        "recipe": "cogan",
        "architecture": "cogan",
        "loss": "nonsaturating",
        "tied": True,
        "g_opt": adam,
        "d_opt": adam,
        "batch_size": 64,
        "latent_dim": 32,
        "width": 32,
    }


@register_variant("cogan_unshared", kinds=("images",), resolution=8)
def cogan_unshared(kind: str) -> dict:
    """CoGAN's no-sharing control: the same two GANs fed the same z, with no layer tied, so pairs correspond only by chance (the ablation the paper's pair agreement is read against)."""
    return {**cogan(kind), "tied": False}
