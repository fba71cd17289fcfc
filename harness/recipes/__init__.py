"""Training recipes: the unit of training. A variant preset names its recipe (``recipe`` axis,
default ``adversarial``); the tick loop (``harness.train.loop``), budgets, seeds, checkpoints
and bit-identical resume, the evaluation schedule, the best checkpoint, tracking, studies,
nightly runs and reports are generic and know nothing of what a recipe trains.

A recipe (``harness.recipes.base.Recipe``) is built from a cell's resolved spec, its data and
a device; it performs one step on named batches and returns statistics by name and the real
examples it consumed; it gives the ``Sampler`` evaluation uses; it adds its own state to the
checkpoint. Its axes live on the variant spec; an axis added later enters a cell's hash only
when set away from its default, so existing cells keep their hashes.

Registered recipes:

- ``adversarial``: one G and one D, ``d_steps`` D steps per G step, any loss, penalty,
  normalisation, optimiser, EMA and PacGAN ``pack`` (``harness.recipes.adversarial``).
- ``pix2pix`` and ``cyclegan``: paired and unpaired image translation
  (``harness.recipes.translation``);
- ``cogan``: two coupled GANs on two unpaired domains (``harness.recipes.coupled``);
- ``progan``: progressive growing from 4×4 (``harness.recipes.progressive``, its schedule in
  ``harness.recipes.growing``), a batch size per resolution (``batch_sizes``: the recipe's
  ``steps_for`` and ``examples_before`` walk the schedule, so budgets stay in images).
- ``mle``: maximum likelihood of token sequences, the text GANs' baseline; the text GANs
  share its pretraining, then D's, then their adversarial steps, phases switched by the
  sequences consumed against one budget (``TextGANPhases`` in ``harness.recipes.sequence``):
  ``seqgan`` (policy gradient with rollout rewards), ``rankgan`` (a cosine ranker against a
  real reference set, ``harness.recipes.rankgan``), ``leakgan`` (manager and worker fed D's
  leaked features, ``harness.recipes.leakgan``), ``textgan`` (MMD of D's features through a
  soft argmax, ``harness.recipes.textgan``).
- ``stylegan``: StyleGAN (v1) on ProGAN's loop: style mixing, per-layer noise, the tracked
  mean w, the penalty every ``reg_interval`` D steps (lazy regularisation), grown only when
  ``fade_kimg`` > 0; it ``offers`` ``styles`` (a sampler that mixes two latents' styles).

A recipe's registry entry says what it ``needs`` from a dataset (capabilities, as metrics
declare them: ``paired`` training pairs, ``unpaired`` domains), what it ``offers`` metrics
(``cycle``: an inverse map), the ``family`` of architectures it trains (``latent``, the
default: G from a latent; ``translator``: G from an image; ``coupled``: CoGAN's pairs;
``growing``: nets run at a resolution and fade α), and
the ``losses`` it implements; suites are checked against them before anything runs.

How the families plug in (ProGAN and StyleGAN, above, are built as this list said: the
resolution and α derived from images seen, reals pooled and blended, optimisers reset at each
growth, a ``Sampler`` that upsamples to the final resolution; mapping net, constant input,
AdaIN and noise in the nets, style mixing and the lazy penalty in ``step``, the tracked mean
w in G, ψ = 1 for metrics):

- **Two coupled domains (CoGAN)**: two G and two D with tied layers in one recipe; ``step``
  takes batches from the streams "A" and "B" of a two-domain modality; its ``Sampler``
  returns image pairs from one latent, scored by pair metrics that declare that need.
- **Paired and unpaired translation (Pix2Pix, CycleGAN)**: the nets, the image pool and the
  learning-rate schedule are recipe parts and state; ``step`` takes aligned (paired) or
  independent (unpaired) batches from the modality's streams; the ``Sampler`` maps held-out
  source images instead of latents, and translation metrics declare a paired target.
- **Sequence models (SeqGAN, RankGAN, LeakGAN, TextGAN: built this way)**: maximum-likelihood
  pretraining and the adversarial phase are phases of one recipe, switched by examples seen
  and counted against one budget (the recipe's ``steps_for`` walks its phases); rollouts and
  policy gradients live in ``step``; the ``SequenceSampler`` turns a bank of uniforms into
  token sequences and gives the model's NLL, for metrics that declare ``sequences``,
  ``oracle`` or ``words``. LeakGAN's sampler holds G with the D it reads (``LeakedPolicy``);
  RankGAN and TextGAN replace D's loss and G's reward or loss on the same pieces.
"""

from harness.registry import Registry

RECIPES = Registry("recipe")
RECIPES.register(
    "adversarial",
    "harness.recipes.adversarial:Adversarial",
    doc="One G and one D, d_steps D steps per G step; losses, penalties, norms, EMA, pack.",
    version=1,
)
RECIPES.register(
    "pix2pix",
    "harness.recipes.translation:Pix2Pix",
    doc="Paired translation: U-Net G, PatchGAN D on (source, output), L1 to the target (Isola et al. 2017).",
    needs=("paired",),
    family="translator",
    losses=("nonsaturating", "least_squares"),
    version=1,
)
RECIPES.register(
    "cyclegan",
    "harness.recipes.translation:CycleGAN",
    doc="Unpaired translation: two G, two D, cycle and identity L1, image pools (Zhu et al. 2017).",
    needs=("unpaired",),
    offers=("cycle",),
    family="translator",
    losses=("nonsaturating", "least_squares"),
    version=1,
)
RECIPES.register(
    "cogan",
    "harness.recipes.coupled:CoGAN",
    doc="Two coupled GANs on two unpaired domains, one latent, tied layers (Liu & Tuzel 2016).",
    needs=("unpaired",),
    offers=("coupled",),
    family="coupled",
    version=1,
)
RECIPES.register(
    "progan",
    "harness.recipes.progressive:ProGAN",
    doc="Progressive growing from 4×4 with fade-ins, reals at the current resolution, optimiser resets, drift (Karras et al. 2018).",
    family="growing",
    version=1,
)
RECIPES.register(
    "stylegan",
    "harness.recipes.progressive:StyleGAN",
    doc="Style-based G with style mixing, per-layer noise, tracked mean w, lazy R1; optionally grown (Karras et al. 2019).",
    offers=("styles",),
    family="growing",
    version=1,
)
RECIPES.register(
    "mle",
    "harness.recipes.sequence:MLE",
    doc="Maximum likelihood of token sequences: teacher-forced cross-entropy, clipped gradients (the text GANs' baseline).",
    family="sequence",
    version=1,
)
RECIPES.register(
    "seqgan",
    "harness.recipes.sequence:SeqGAN",
    doc="SeqGAN: MLE pretraining, D pretraining, then policy gradient with Monte-Carlo rollout rewards (Yu et al. 2017).",
    family="sequence",
    version=2,
)
RECIPES.register(
    "rankgan",
    "harness.recipes.rankgan:RankGAN",
    doc="RankGAN: a ranker scoring sentences by cosine to a real reference set, rewards by rollouts (Lin et al. 2017).",
    family="sequence",
    version=1,
)
RECIPES.register(
    "textgan",
    "harness.recipes.textgan:TextGAN",
    doc="TextGAN: G from a latent code matches D's features by MMD through a soft argmax (Zhang et al. 2017).",
    family="latent_sequence",
    version=1,
)
RECIPES.register(
    "leakgan",
    "harness.recipes.leakgan:LeakGAN",
    doc="LeakGAN: manager and worker fed D's leaked features, rank-rescaled rollout rewards, interleaved MLE (Guo et al. 2018).",
    family="leaked_sequence",
    version=2,
)

__all__ = ["RECIPES"]
