"""ProGAN (Karras et al. 2018) as a training recipe: G and D grown in lockstep from 4×4 on
``harness.recipes.growing.GrowthSchedule`` (a function of the real images shown, so a run
resumed in the middle of a fade continues it bit for bit), the newest block faded in over
``fade_kimg`` and stabilised over ``stabilise_kimg``; the real images shown at the current
resolution (average-pooled) and blended the same way during a fade; the optimisers' state
reset at each growth; the variant's loss and penalty (the paper: WGAN-GP) plus the drift term
``drift`` · E[D(x)²] on reals, the penalty every ``reg_interval`` D steps (weighted by it;
1: every step, as the paper); EMA of G. The nets: ``harness.variants.nets.progan``.

StyleGAN (Karras, Laine & Aila 2019) is the same loop with its own G and fake images (style
mixing, per-layer noise, the tracked mean w; ``StyleGAN`` below), grown on the same schedule
only when ``fade_kimg`` > 0.

Evaluation sees the final resolution only: the sampler's images are G's output at the
resolution (and α) the run has reached, upsampled by nearest neighbour to the final size, so
early metrics compare blocky images with the real ones. Each tick logs ``resolution`` and
``alpha`` (their means over the tick's steps).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from harness.recipes.base import Batches, PartsState, Recipe, Sampler, StepResult
from harness.recipes.growing import GrowthSchedule
from harness.train.seeding import derive_seed
from harness.variants import ARCHITECTURES, LOSSES, PENALTIES
from harness.variants.nets.karras import fade_reals
from harness.variants.nets.stylegan_layers import mixing_cutoff, truncate
from harness.variants.optimizers import make_optimizer

START = 4  # ProGAN grows from 4×4


class Staged(nn.Module):
    """A growing net run at one (resolution, α), called as the generic losses and penalties
    call a net: ``net(x, labels)``."""

    def __init__(self, net: nn.Module, resolution: int, alpha: float) -> None:
        super().__init__()
        self.net, self.resolution, self.alpha = net, resolution, alpha

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x, labels, self.resolution, self.alpha)


class Grown(Staged):
    """G at the run's (resolution, α), its images upsampled to ``final`` px for evaluation."""

    def __init__(self, net: nn.Module, resolution: int, alpha: float, final: int) -> None:
        super().__init__(net, resolution, alpha)
        self.final = final

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        images = super().forward(z, labels)
        if images.shape[-1] == self.final:
            return images
        return F.interpolate(images, size=(self.final, self.final), mode="nearest")


def reals_at(real: torch.Tensor, resolution: int, alpha: float) -> torch.Tensor:
    """Real images as D sees them at ``resolution`` (average-pooled), blended as a fade is."""
    factor = real.shape[-1] // resolution
    if factor > 1:
        real = F.avg_pool2d(real, factor)
    return fade_reals(real, alpha) if alpha < 1.0 else real


def _first(holds, limit: int | None) -> int:
    """The least k in 1..limit for which ``holds(k)`` (monotone), or ``limit`` if none."""
    below, high = 0, 1  # holds(below) is false (or below = 0)
    while not holds(high):
        if limit is not None and high >= limit:
            return limit
        below, high = high, high * 2 if limit is None else min(high * 2, limit)
    low = below + 1
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return high


class ProGAN(PartsState, Recipe):
    name = "progan"

    def __init__(self, spec, data, device: torch.device, seed: int) -> None:
        super().__init__(spec, data, device, seed)
        if spec.conditional:
            raise ValueError("recipe 'progan' is unconditional; allowed: conditional = false")
        self.loss = LOSSES.get(spec.loss)
        self.penalty = PENALTIES.get(spec.penalty)
        generator, discriminator = ARCHITECTURES.get(spec.architecture)(spec, data.info)
        self.G, self.D = generator.to(device), discriminator.to(device)
        self.G_ema = copy.deepcopy(self.G).eval() if spec.ema > 0 else None
        self.final = data.info.shape[-1]
        self.schedule = None  # a fixed structure at the final resolution
        if self.grows():
            self.schedule = GrowthSchedule(
                START, self.final, round(spec.stabilise_kimg * 1000), round(spec.fade_kimg * 1000)
            )
        self.opt_g, self.opt_d = self._optimizers()
        self.latent_rng = torch.Generator().manual_seed(derive_seed(seed, "latent"))
        self.images = 0  # real images shown to D
        self.resolution = self.stage()[0]
        self.steps_done = 0  # D steps
        self.last_penalty = torch.tensor(0.0)  # a lazy penalty's latest value, for the stats

    def grows(self) -> bool:
        """Grown from 4×4 when fades are set; else a fixed structure (the no-growing control)."""
        return self.spec.fade_kimg > 0

    def _optimizers(self):
        return (
            make_optimizer(self.spec.g_opt, self.G.parameters()),
            make_optimizer(self.spec.d_opt, self.D.parameters()),
        )

    def _latents(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.spec.latent_dim, generator=self.latent_rng).to(self.device)

    def batch_at(self, resolution: int) -> int:
        """The batch size at ``resolution`` (``batch_sizes``, else ``batch_size``)."""
        return self.spec.batch_sizes.get(resolution, self.spec.batch_size)

    def examples_per_step(self) -> int:
        """Real images the next step shows D (its batch follows the resolution)."""
        return self.spec.d_steps * self.batch_at(self.stage()[0])

    def _walk(self, stop) -> tuple[int, int]:
        """(steps, images) at the first step count where ``stop(steps, images)`` holds: the
        schedule run one resolution at a time, each step's batch that of the resolution it
        starts at (``stop`` must be monotone)."""
        steps = images = 0
        bounds = self.schedule.growth_images() if self.schedule else []
        while not stop(steps, images):
            resolution = self.schedule.at(images)[0] if self.schedule else self.final
            per_step = self.spec.d_steps * self.batch_at(resolution)
            upcoming = [b for b in bounds if b > images]
            limit = -(-(upcoming[0] - images) // per_step) if upcoming else None
            count = _first(lambda k, s=steps, i=images, p=per_step: stop(s + k, i + k * p), limit)
            steps, images = steps + count, images + count * per_step
        return steps, images

    def steps_for(self, examples: float) -> int:
        if not self.spec.batch_sizes:
            return super().steps_for(examples)
        return max(1, self._walk(lambda steps, images: images >= examples)[0])

    def examples_before(self, steps: int) -> int:
        if not self.spec.batch_sizes:
            return super().examples_before(steps)
        return self._walk(lambda done, images: done >= steps)[1]

    def check(self, batches: Batches) -> None:
        sizes = [self.batch_at(resolution) for resolution in self.G.resolutions]
        batches.check("real", max(sizes))

    def counters(self) -> dict[str, int]:
        return {"d_steps": self.steps_done}

    def stage(self) -> tuple[int, float]:
        """The (resolution, α) of the next step."""
        return self.schedule.at(self.images) if self.schedule else (self.final, 1.0)

    def _fakes(self, resolution: int, alpha: float, count: int) -> torch.Tensor:
        """``count`` generated images at (resolution, α), for a training step."""
        return self.G(self._latents(count), None, resolution, alpha)

    def _after_g_step(self) -> None:
        """EMA of G's weights (its buffers copied)."""
        if self.G_ema is None:
            return
        with torch.no_grad():
            for ema_p, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
                ema_p.lerp_(p, 1 - self.spec.ema)
            for ema_b, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
                ema_b.copy_(b)

    def sampler(self) -> Sampler:
        module = self.G_ema if self.G_ema is not None else self.G
        resolution, alpha = self.stage()
        return Sampler(Grown(module, resolution, alpha, self.final), self.spec.latent_dim, False)

    def step(self, batches: Batches) -> StepResult:
        spec = self.spec
        resolution, alpha = self.stage()
        size = self.batch_at(resolution)
        if resolution != self.resolution:  # new layers: the optimisers start afresh
            self.opt_g, self.opt_d = self._optimizers()
            self.resolution = resolution
        D = Staged(self.D, resolution, alpha)
        for index in range(spec.d_steps):
            real, _ = batches.take("real", size)
            real = reals_at(real, resolution, alpha)
            with torch.no_grad():
                fake = self._fakes(resolution, alpha, size)
            real_out, fake_out = D(real), D(fake)
            d_loss = self.loss.d_loss(real_out, fake_out)
            # Lazy regularisation: the penalty on every reg_interval-th D step, weighted by it.
            lazy = (self.steps_done + index) % spec.reg_interval == 0
            if self.penalty.term is not None and lazy:
                settings = self.penalty.settings_of(spec)
                penalty = self.penalty.term(D, real, fake, None, self.latent_rng, **settings)
                d_loss = d_loss + spec.penalty_weight * spec.reg_interval * penalty
                self.last_penalty = penalty.detach()
            if spec.drift > 0:
                d_loss = d_loss + spec.drift * real_out.square().mean()
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            if self.penalty.after_step is not None:
                self.penalty.after_step(self.D, spec)
            self.images += size
        self.steps_done += spec.d_steps

        self.D.requires_grad_(False)
        g_loss = self.loss.g_loss(D(self._fakes(resolution, alpha, size)))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        self._after_g_step()
        stats = {
            "loss_d": d_loss.detach(),
            "loss_g": g_loss.detach(),
            "d_real": real_out.detach().mean(),
            "d_fake": fake_out.detach().mean(),
            "resolution": torch.tensor(float(resolution)),
            "alpha": torch.tensor(float(alpha)),
        }
        if self.penalty.term is not None:
            stats["penalty"] = self.last_penalty
        return StepResult(stats, spec.d_steps * size)

    def _parts(self) -> dict:
        parts = {"generator": self.G, "discriminator": self.D, "generator_ema": self.G_ema}
        parts |= {"opt_g": self.opt_g, "opt_d": self.opt_d, "latent_rng": self.latent_rng}
        return {name: part for name, part in parts.items() if part is not None}

    def state_dict(self) -> dict:
        state = {**super().state_dict(), "images": self.images, "resolution": self.resolution}
        return state | {"last_penalty": self.last_penalty}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.images, self.resolution = state["images"], state["resolution"]
        self.last_penalty = state.get("last_penalty", torch.tensor(0.0))


class StyleSampler(Sampler):
    """StyleGAN's sampler: G (its EMA) at the run's (resolution, α), upsampled to the final
    size, its w truncated towards the tracked mean by ``psi`` (1: none); ``mix`` draws images
    with the styles of one latent on the first ``cutoff`` layers and another's on the rest
    (the paper's style mixing, Fig. 3), for the style metrics; ``at_psi`` the same sampler
    truncated (the ``psi`` evaluation option)."""

    def __init__(self, module: Grown, latent_dim: int, psi: float = 1.0) -> None:
        super().__init__(module, latent_dim, False)
        self.psi = psi

    def at_psi(self, psi: float) -> StyleSampler:
        return StyleSampler(self.module, self.latent_dim, psi)

    def _upsampled(self, images: torch.Tensor) -> torch.Tensor:
        final = self.module.final
        return images if images.shape[-1] == final else F.interpolate(images, size=(final,) * 2)

    def __call__(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        grown = self.module
        return self._upsampled(grown.net(z, None, grown.resolution, grown.alpha, psi=self.psi))

    def mix(self, first: torch.Tensor, second: torch.Tensor, cutoff: int) -> torch.Tensor | None:
        """Images of ``first``'s styles below ``cutoff`` and ``second``'s from it on, their
        noise derived from both latents; None when G runs no layer from ``cutoff`` on yet."""
        grown = self.module
        G = grown.net
        if G.layers_at(grown.resolution) <= cutoff:
            return None
        device = G.w_avg.device
        first, second = first.to(device), second.to(device)
        ws = torch.cat([G.styles(first)[:, :cutoff], G.styles(second)[:, cutoff:]], dim=1)
        if self.psi != 1.0:
            ws = truncate(ws, G.w_avg, self.psi)
        noise = G.latent_noise(torch.cat([first, second], dim=1), grown.resolution)
        return self._upsampled(G.synthesis(ws, noise, grown.resolution, grown.alpha))


W_AVG_BETA = 0.995  # the tracked mean w: an EMA of the batch mean w (StyleGAN's dlatent_avg)


class StyleGAN(ProGAN):
    """StyleGAN (v1; Karras, Laine & Aila 2019) on ProGAN's loop: the style-based G of
    ``harness.variants.nets.stylegan`` against ProGAN's D; style mixing with probability
    ``style_mixing`` (one crossover layer per batch, uniform on [1, layers run)); per-layer
    noise from a generator of its own; the tracked mean w (EMA 0.995 of the batch mean of the
    first latent's w) kept in G and copied into its EMA; the variant's loss and penalty (the
    paper: non-saturating logistic with R1) with the penalty every ``reg_interval`` D steps;
    grown on ProGAN's schedule when ``fade_kimg`` > 0, otherwise a fixed structure at the final
    resolution. Evaluation samples G's EMA at ψ = 1 (no truncation)."""

    name = "stylegan"

    def __init__(self, spec, data, device: torch.device, seed: int) -> None:
        super().__init__(spec, data, device, seed)
        self.noise_rng = torch.Generator().manual_seed(derive_seed(seed, "noise"))
        self.mixing_rng = torch.Generator().manual_seed(derive_seed(seed, "mixing"))

    def _fakes(self, resolution: int, alpha: float, count: int) -> torch.Tensor:
        G = self.G
        ws = G.styles(self._latents(count))
        with torch.no_grad():
            G.w_avg.lerp_(ws[:, 0].detach().mean(0), 1 - W_AVG_BETA)
        layers = G.layers_at(resolution)
        cutoff = mixing_cutoff(layers, self.spec.style_mixing, self.mixing_rng)
        if cutoff < layers:
            mixed = G.styles(self._latents(count))
            ws = torch.cat([ws[:, :cutoff], mixed[:, cutoff:]], dim=1)
        noise = G.draw_noise(count, resolution, self.noise_rng, self.device)
        return G.synthesis(ws, noise, resolution, alpha)

    def sampler(self) -> Sampler:
        module = self.G_ema if self.G_ema is not None else self.G
        resolution, alpha = self.stage()
        return StyleSampler(Grown(module, resolution, alpha, self.final), self.spec.latent_dim)

    def _parts(self) -> dict:
        return super()._parts() | {"noise_rng": self.noise_rng, "mixing_rng": self.mixing_rng}
