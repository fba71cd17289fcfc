"""The adversarial recipe: one G, one D, ``d_steps`` D steps per G step.

Every variant of the loss × penalty × normalisation × optimiser × EMA family lives here as a
point on ``VariantSpec``'s axes. ``pack`` (PacGAN, Lin et al. 2018) makes D judge ``pack``
samples at once, all real or all generated, concatenated along channels (images) or features
(points): only D's first layer widens, G draws ``pack`` independent latents per D input, the
real packs are ``pack`` different training examples, and the budget counts every packed image.
``pack = 1`` is the base variant bit for bit. ``init = "orthogonal"`` initialises G and D
orthogonally and ``ortho_reg`` adds BigGAN's orthogonal regulariser of G's weights to G's
loss (``harness.variants.regularizers``; logged as ``ortho``).
"""

from __future__ import annotations

import copy
import dataclasses

import torch

from harness.recipes.base import Batches, Recipe, Sampler, StepResult
from harness.train.seeding import derive_seed
from harness.variants import ARCHITECTURES, LOSSES, PENALTIES
from harness.variants.nets.common import RealStatsBatchNorm, discriminate
from harness.variants.optimizers import make_optimizer
from harness.variants.regularizers import orthogonal_init, orthogonal_penalty


def packed_info(info, pack: int):
    """The dataset description D is built for: ``pack`` samples side by side on the first
    axis (channels of an image, features of a point)."""
    if pack == 1:
        return info
    return dataclasses.replace(info, shape=(info.shape[0] * pack, *info.shape[1:]))


def pack_batch(x: torch.Tensor, pack: int) -> torch.Tensor:
    """(n·pack, C, ...) → (n, pack·C, ...): samples ``i·pack … i·pack + pack − 1`` form pack i."""
    if pack == 1:
        return x
    return x.reshape(len(x) // pack, pack * x.shape[1], *x.shape[2:])


class Adversarial(Recipe):
    name = "adversarial"

    def __init__(self, spec, data, device: torch.device, seed: int) -> None:
        super().__init__(spec, data, device, seed)
        self.loss = LOSSES.get(spec.loss)
        self.penalty = PENALTIES.get(spec.penalty)
        build = ARCHITECTURES.get(spec.architecture)
        if spec.pack == 1:
            generator, discriminator = build(spec, data.info)
        else:
            generator, _ = build(spec, data.info)
            _, discriminator = build(spec, packed_info(data.info, spec.pack))
        if spec.init == "orthogonal":
            orthogonal_init(generator)
            orthogonal_init(discriminator)
        self.G, self.D = generator.to(device), discriminator.to(device)
        # With batch norm in D, the G step shows D its last real batch beside the fakes.
        self.joint_batches = any(isinstance(m, RealStatsBatchNorm) for m in self.D.modules())
        self.G_ema = copy.deepcopy(self.G).eval() if spec.ema > 0 else None
        self.opt_g = make_optimizer(spec.g_opt, self.G.parameters())
        self.opt_d = make_optimizer(spec.d_opt, self.D.parameters())
        self.latent_rng = torch.Generator().manual_seed(derive_seed(seed, "latent"))
        self.d_steps_done = 0

    # -- the recipe interface ------------------------------------------------------------

    def examples_per_step(self) -> int:
        return self.spec.d_steps * self.spec.batch_size * self.spec.pack

    def check(self, batches: Batches) -> None:
        batches.check("real", self.spec.batch_size * self.spec.pack)

    def counters(self) -> dict[str, int]:
        return {"d_steps": self.d_steps_done}

    def sampler(self) -> Sampler:
        module = self.G_ema if self.G_ema is not None else self.G
        return Sampler(module, self.spec.latent_dim, self.spec.conditional)

    def _latents(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.spec.latent_dim, generator=self.latent_rng).to(self.device)

    def step(self, batches: Batches) -> StepResult:
        """``d_steps`` discriminator steps then one generator step."""
        spec, G, D, pack = self.spec, self.G, self.D, self.spec.pack
        conditional = spec.conditional
        count = spec.batch_size * pack  # samples per D input batch, packs unrolled
        for _ in range(spec.d_steps):
            real, real_labels = batches.take("real", count)
            labels = real_labels if conditional else None
            with torch.no_grad():
                fake = G(self._latents(count), labels)
            real, fake = pack_batch(real, pack), pack_batch(fake, pack)
            real_out, fake_out = discriminate(D, real, fake, labels, labels)
            d_loss = self.loss.d_loss(real_out, fake_out)
            penalty = None
            if self.penalty.term is not None:
                settings = self.penalty.settings_of(spec)
                penalty = self.penalty.term(D, real, fake, labels, self.latent_rng, **settings)
                d_loss = d_loss + spec.penalty_weight * penalty
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.opt_d.step()
            if self.penalty.after_step is not None:
                self.penalty.after_step(D, spec)
        self.d_steps_done += spec.d_steps

        # Generator step, with D frozen so no D gradients are computed.
        g_labels = (
            torch.randint(
                self.data.info.num_classes, (spec.batch_size,), generator=self.latent_rng
            ).to(self.device)
            if conditional
            else None
        )
        D.requires_grad_(False)
        fake = pack_batch(G(self._latents(count), g_labels), pack)
        if self.joint_batches:  # beside the last real batch, as D saw it
            _, fake_g_out = discriminate(D, real, fake, labels, g_labels)
        else:
            fake_g_out = D(fake, g_labels)
        g_loss = self.loss.g_loss(fake_g_out)
        g_total, ortho = g_loss, None
        if spec.ortho_reg > 0:
            ortho = orthogonal_penalty(G)
            g_total = g_loss + spec.ortho_reg * ortho
        self.opt_g.zero_grad(set_to_none=True)
        g_total.backward()
        self.opt_g.step()
        D.requires_grad_(True)
        if self.G_ema is not None:
            self._update_ema()
        stats = {
            "loss_d": d_loss.detach(),
            "loss_g": g_loss.detach(),
            "d_real": real_out.detach().mean(),
            "d_fake": fake_out.detach().mean(),
        }
        if penalty is not None:
            stats["penalty"] = penalty.detach()
        if ortho is not None:
            stats["ortho"] = ortho.detach()
        return StepResult(stats, self.examples_per_step())

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.spec.ema
        for ema_p, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            ema_p.lerp_(p, 1 - decay)
        for ema_b, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            ema_b.copy_(b)

    # -- state ---------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "generator_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "latent_rng": self.latent_rng.get_state(),
            "d_steps": self.d_steps_done,
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["generator_ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.latent_rng.set_state(state["latent_rng"])
        self.d_steps_done = state["d_steps"]
