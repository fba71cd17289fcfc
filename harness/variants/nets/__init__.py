"""Generator/discriminator architectures, registered lazily so listing them needs no torch.

Every builder has the signature ``build(variant, info) -> (generator, discriminator)`` where
``variant`` is a resolved ``VariantSpec`` and ``info`` the dataset's ``DatasetInfo``.
Both networks take ``(input, labels)``; ``labels`` is ``None`` for unconditional variants.

Every entry here (and every loss, penalty and dataset) carries a ``version`` that enters the
hash of the cells that use it once it is above 1: bump it whenever the entry's behaviour
changes, so ``ganbench run`` never reuses a result that other code produced
(``tests/test_identity.py`` pins each entry's source to its version).
"""

from harness.registry import Registry

ARCHITECTURES = Registry("architecture")
ARCHITECTURES.register(
    "mlp",
    "harness.variants.nets.mlp:build",
    doc="Fully connected G/D (Goodfellow et al. 2014); for 2-D points or flattened images.",
    kinds=("points", "images"),
    version=2,  # 2: no normalisation on D's input layer; factorised labels
)
ARCHITECTURES.register(
    "dcgan",
    "harness.variants.nets.dcgan:build",
    doc="DCGAN-style conv G/D sized to the resolution: 8, 16, 28, 32 or 64 px (Radford et al. 2016).",
    kinds=("images",),
    version=2,  # 2: a normalised hidden layer at 8x8; factorised, Xavier-initialised projection
)
ARCHITECTURES.register(
    "resnet",
    "harness.variants.nets.resnet:build",
    doc="ResNet G/D (SNGAN, SAGAN, BigGAN) at 8, 16 or 32 px; self-attention, spectral G, cBN.",
    kinds=("images",),
    version=1,
)
ARCHITECTURES.register(
    "maxout",
    "harness.variants.nets.maxout:build",
    doc="PacGAN's 2-D nets: MLP G with batch norm, maxout D of 5 pieces (Lin et al. 2018).",
    kinds=("points",),
    conditional=False,
    version=2,  # 2: the paper's init (N(0, 0.02²) weights, zero biases), no bias in G's hidden layers
)
ARCHITECTURES.register(
    "unet",
    "harness.variants.nets.translation:build_unet",
    doc="pix2pix: U-Net G with skips from source to target, PatchGAN D on (source, target) (Isola et al. 2017).",
    kinds=("images",),
    conditional=False,
    family="translator",
    version=1,
)
ARCHITECTURES.register(
    "resnet_translator",
    "harness.variants.nets.translation:build_resnet_translator",
    doc="CycleGAN: ResNet G from source to target, PatchGAN D on targets (Zhu et al. 2017).",
    kinds=("images",),
    conditional=False,
    family="translator",
    version=1,
)
ARCHITECTURES.register(
    "progan",
    "harness.variants.nets.progan:build",
    doc="ProGAN: G and D grown from 4×4, equalised LR, pixel norm, minibatch stddev (Karras et al. 2018).",
    kinds=("images",),
    conditional=False,
    family="growing",
    version=1,
)
ARCHITECTURES.register(
    "progan_mode",
    "harness.variants.nets.progan_mode:build",
    doc="ProGAN's mode-recovery nets: one conv per resolution, crippled D, ablation switches (Karras et al. 2018, App. E).",
    kinds=("images",),
    conditional=False,
    family="growing",
    version=1,
)
ARCHITECTURES.register(
    "lstm",
    "harness.variants.nets.sequence:build",
    doc="LSTM language model: embedding, one LSTM layer, a linear layer to the vocabulary (SeqGAN's generator).",
    kinds=("sequences",),
    conditional=False,
    family="sequence",
    version=1,
)
ARCHITECTURES.register(
    "latent_lstm",
    "harness.variants.nets.textgan:build",
    doc="TextGAN's generator: SeqGAN's LSTM started from a latent code, with a soft-argmax path (Zhang et al. 2017).",
    kinds=("sequences",),
    conditional=False,
    family="latent_sequence",
    version=1,
)
ARCHITECTURES.register(
    "leakgan",
    "harness.variants.nets.leakgan:build",
    doc="LeakGAN's generator: a manager LSTM on D's leaked features sets goals for a worker LSTM (Guo et al. 2018).",
    kinds=("sequences",),
    conditional=False,
    family="leaked_sequence",
    version=1,
)
ARCHITECTURES.register(
    "stylegan",
    "harness.variants.nets.stylegan:build",
    doc="StyleGAN (v1): mapping net, constant input, AdaIN, per-layer noise; ProGAN's D (Karras et al. 2019).",
    kinds=("images",),
    conditional=False,
    family="growing",
    version=1,
)
ARCHITECTURES.register(
    "cogan",
    "harness.variants.nets.coupled:build",
    doc="CoGAN: two G sharing their input-side layers, two D sharing their output-side layers (Liu & Tuzel 2016).",
    kinds=("images",),
    conditional=False,
    family="coupled",
    version=1,
)

NORMALIZATIONS = Registry("normalization")
NORMALIZATIONS.register("none", "none", doc="No normalisation in D.")
NORMALIZATIONS.register("batch", "batch", doc="Batch normalisation in D (Ioffe & Szegedy 2015).")
NORMALIZATIONS.register("layer", "layer", doc="Layer normalisation in D (as WGAN-GP advises).")
NORMALIZATIONS.register(
    "spectral", "spectral", doc="Spectral normalisation of every D layer (Miyato et al. 2018)."
)
