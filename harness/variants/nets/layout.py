"""Resolution rules of the conv architectures, free of torch so that suite validation can
check them before anything is built."""

from __future__ import annotations

import math

# The ResNet D's blocks per resolution, True where a block halves the map: SNGAN's 32-px D
# (Miyato et al. 2018, App. B.4; StudioGAN's d_down [T, T, F, F]) and the 16/8-px versions
# that end at 4×4.
RESNET_D_DOWNSAMPLE = {8: (True, False), 16: (True, True, False), 32: (True, True, False, False)}
RESNET_RESOLUTIONS = tuple(RESNET_D_DOWNSAMPLE)
DCGAN_RESOLUTIONS = (8, 16, 28, 32, 64)


def resnet_ups(resolution: int) -> int:
    if resolution not in RESNET_RESOLUTIONS:
        raise ValueError(f"resnet supports resolutions {RESNET_RESOLUTIONS}, not {resolution}")
    return int(math.log2(resolution // 4))


def attention_sizes(resolution: int) -> tuple[int, ...]:
    """Feature-map sizes where the ResNet G and D both have a map to attend over: after each
    G block but the last, and after the first D block that reaches the size."""
    return tuple(4 * 2 ** (i + 1) for i in range(resnet_ups(resolution) - 1))


def check_layout(
    architecture: str,
    resolution: int,
    attention: int,
    latent_dim: int | None = None,
    hierarchical_z: bool = False,
) -> None:
    """Raise ``ValueError`` when ``architecture`` cannot be built at ``resolution`` px with
    self-attention at ``attention`` (and, with ``hierarchical_z``, z split into one equal
    chunk per G block plus the stem)."""
    if architecture == "dcgan" and resolution not in DCGAN_RESOLUTIONS:
        raise ValueError(
            f"architecture 'dcgan' supports {', '.join(map(str, DCGAN_RESOLUTIONS))} px, "
            f"not {resolution}"
        )
    if architecture != "resnet":
        return
    if resolution not in RESNET_RESOLUTIONS:
        raise ValueError(
            f"architecture 'resnet' supports {', '.join(map(str, RESNET_RESOLUTIONS))} px, "
            f"not {resolution}"
        )
    if attention and attention not in attention_sizes(resolution):
        allowed = ", ".join(["0 (none)", *map(str, attention_sizes(resolution))])
        raise ValueError(
            f"attention {attention}: G and D have no shared feature map of that size at "
            f"{resolution} px; allowed: {allowed}"
        )
    chunks = resnet_ups(resolution) + 1
    if hierarchical_z and latent_dim is not None and latent_dim % chunks:
        raise ValueError(
            f"hierarchical_z splits latent_dim {latent_dim} into {chunks} equal chunks at "
            f"{resolution} px; allowed: a latent_dim divisible by {chunks}"
        )


def patch_output_size(resolution: int, layers: int, kernel: int) -> int:
    """The side of a PatchGAN's logit map on ``resolution``-px images (see
    ``harness.variants.nets.translation.PatchGAN``)."""
    if kernel == 3:
        return resolution
    return resolution // 2**layers - 2


def check_translation_layout(spec, resolution: int) -> None:
    """Raise ``ValueError`` when a translation architecture cannot be built at
    ``resolution`` px: a U-Net needs 2^depth ≤ resolution (its innermost map at least 1×1),
    a ResNet translator a map of at least 2×2 after its downsamplings, and a PatchGAN a logit
    map of at least 2×2 (one logit for the whole image is not a patch)."""
    if spec.architecture not in ("unet", "resnet_translator"):
        return
    if spec.architecture == "unet" and 2**spec.depth > resolution:
        allowed = int(math.log2(resolution))
        raise ValueError(
            f"a U-Net of depth {spec.depth} halves {resolution}-px images below 1×1; allowed: "
            f"depth <= {allowed}"
        )
    if spec.architecture == "resnet_translator" and resolution // 2**spec.downsamplings < 2:
        raise ValueError(
            f"{spec.downsamplings} downsamplings leave less than 2×2 of {resolution}-px images; "
            f"allowed: downsamplings <= {int(math.log2(resolution)) - 1}"
        )
    if patch_output_size(resolution, spec.d_layers, spec.kernel) < 2:
        fits = [n for n in range(1, 9) if patch_output_size(resolution, n, spec.kernel) >= 2]
        raise ValueError(
            f"a PatchGAN of {spec.d_layers} layers (kernel {spec.kernel}) gives less than a "
            f"2×2 map of patches on {resolution}-px images; allowed: d_layers <= "
            f"{max(fits)}"
            if fits
            else "kernel = 3"
        )
