"""TextGAN (Zhang et al. 2017): G matches D's features of real sentences through a soft
argmax, by the MMD between them; no rollouts, no policy gradient.

Phases as every text GAN here (``TextGANPhases``): maximum likelihood of G given z drawn from
the prior, then D, then adversarial steps. An adversarial step is one G update minimising
MMD²(features of a real batch, features of a batch of soft sentences) under a Gaussian
kernel of bandwidth ``mmd_sigma`` (the Theano code's 20), then ``d_steps`` D updates
(``dg_ratio``) on the GAN loss plus ``recon_weight`` × ‖ẑ(features) − z‖² minus
``mmd_weight`` × MMD² (D spreads the two feature sets apart; λ_r = λ_m = 0.001 in the Theano
code). D pretrains on the same loss (the paper pretrains it on a sentence-permutation task).
G's adversarial learning rate is ``adversarial_lr`` (the paper's 5e-5) when set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.recipes.base import Batches
from harness.recipes.sequence import TextGANPhases


class TextGAN(TextGANPhases):
    name = "textgan"

    def _discriminator(self) -> torch.nn.Module:
        from harness.variants.nets.textgan import TextGANDiscriminator

        width = self.spec.d_width or 64
        return TextGANDiscriminator(
            self.data.info.vocab_size, self.spec.embedding_dim, (width,) * 4, self.spec.latent_dim
        )

    def _z(self) -> torch.Tensor:
        z = torch.randn(self.spec.batch_size, self.spec.latent_dim, generator=self.sample_rng)
        return z.to(self.device)

    def _mle_loss(self, tokens: torch.Tensor) -> torch.Tensor:
        logits = self.G.logits(tokens, self._z())
        return F.cross_entropy(logits.flatten(0, 1), tokens.flatten())

    def _adversarial_examples(self, index: int) -> int:
        return self.spec.batch_size * (self.spec.d_steps + 1)

    def _d_loss(self, batches: Batches) -> torch.Tensor:
        from harness.variants.nets.textgan import mmd2

        z = self._z()
        with torch.no_grad():
            soft = self.G.soft_sequence(z, self.spec.soft_argmax)
        real, _ = batches.take("real", self.spec.batch_size)
        real_features, fake_features = self.D.features(real), self.D.soft_features(soft)
        logits = self.D.classify(torch.cat([real_features, fake_features]))
        count = len(real_features)
        targets = torch.cat([torch.ones(count), torch.zeros(count)]).to(self.device)
        gan = F.binary_cross_entropy_with_logits(logits, targets)
        recon = (self.D.recon(fake_features) - z).pow(2).sum(dim=1).mean()
        spread = mmd2(real_features, fake_features, self.spec.mmd_sigma)
        return gan + self.spec.recon_weight * recon - self.spec.mmd_weight * spread

    def _adversarial(self, batches: Batches) -> dict[str, torch.Tensor]:
        from harness.variants.nets.textgan import mmd2

        real, _ = batches.take("real", self.spec.batch_size)
        with torch.no_grad():
            real_features = self.D.features(real)
        soft = self.G.soft_sequence(self._z(), self.spec.soft_argmax)
        loss = mmd2(real_features, self.D.soft_features(soft), self.spec.mmd_sigma)
        self._g_update(loss, self.opt_pg)
        losses = [self._d_update(batches) for _ in range(self.spec.d_steps)]
        return {"loss_g": loss.detach(), "loss_d": torch.stack(losses).mean()}
