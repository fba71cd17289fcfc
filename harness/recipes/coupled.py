"""CoGAN (Liu & Tuzel 2016): two GANs, one per domain, fed the same latent, with G's
input-side and D's output-side layers tied (``harness.variants.nets.coupled``), trained on
unpaired marginals: the sum of the two GANs' losses, one D step and one G step per pair of
batches. At test time (G_A(z), G_B(z)) is a corresponding pair; the generic metrics score the
domain-B images against the dataset's real (domain-B) images, and the pair metrics
(``pair_agreement``, ``pair_label_agreement``) score the pairs.
"""

from __future__ import annotations

import torch

from harness.recipes.base import Batches, PartsState, Recipe, Sampler, StepResult
from harness.train.seeding import derive_seed
from harness.variants import ARCHITECTURES, LOSSES
from harness.variants.optimizers import make_optimizer


class CoupledSampler(Sampler):
    """Samples domain B from the bank's latents; ``pairs(z)`` gives both domains."""

    def pairs(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                return self.module.both(z)
        finally:
            self.module.train(was_training)

    def columns(self, bank: torch.Tensor, samples: torch.Tensor) -> list[torch.Tensor]:
        return list(self.pairs(bank[: len(samples)]))


class CoGAN(PartsState, Recipe):
    name = "cogan"

    def __init__(self, spec, data, device, seed) -> None:
        super().__init__(spec, data, device, seed)
        self.loss = LOSSES.get(spec.loss)
        generator, discriminator = ARCHITECTURES.get(spec.architecture)(spec, data.info)
        self.G, self.D = generator.to(device), discriminator.to(device)
        self.opt_g = make_optimizer(spec.g_opt, self.G.parameters())
        self.opt_d = make_optimizer(spec.d_opt, self.D.parameters())
        self.latent_rng = torch.Generator().manual_seed(derive_seed(seed, "latent"))
        self.steps_done = 0

    def examples_per_step(self) -> int:
        return 2 * self.spec.batch_size  # a batch of each domain

    def check(self, batches: Batches) -> None:
        batches.check("A", self.spec.batch_size)
        batches.check("B", self.spec.batch_size)

    def counters(self) -> dict[str, int]:
        return {"d_steps": self.steps_done}

    def sampler(self) -> CoupledSampler:
        return CoupledSampler(self.G, self.spec.latent_dim, conditional=False)

    def step(self, batches: Batches) -> StepResult:
        spec = self.spec
        a, _ = batches.take("A", spec.batch_size)
        b, _ = batches.take("B", spec.batch_size)
        z = torch.randn(spec.batch_size, spec.latent_dim, generator=self.latent_rng)
        fake_a, fake_b = self.G.both(z.to(self.device))
        real_a, real_b = self.D(a, "A"), self.D(b, "B")
        out_a, out_b = self.D(fake_a.detach(), "A"), self.D(fake_b.detach(), "B")
        d_loss = self.loss.d_loss(real_a, out_a) + self.loss.d_loss(real_b, out_b)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        self.D.requires_grad_(False)
        g_loss = self.loss.g_loss(self.D(fake_a, "A")) + self.loss.g_loss(self.D(fake_b, "B"))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        self.steps_done += 1
        stats = {
            "loss_d": d_loss.detach(),
            "loss_g": g_loss.detach(),
            "d_real": real_b.detach().mean(),
            "d_fake": out_b.detach().mean(),
        }
        return StepResult(stats, self.examples_per_step())

    def _parts(self) -> dict:
        return {
            "generator": self.G,
            "discriminator": self.D,
            "opt_g": self.opt_g,
            "opt_d": self.opt_d,
            "latent_rng": self.latent_rng,
        }
