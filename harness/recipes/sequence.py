"""Sequence recipes: maximum likelihood, the baseline every text GAN must beat at equal
budget (text-gans reference §4.1), and the sampler text metrics use.

``MLE``: the LSTM generator (``harness.variants.nets.sequence``) trained by teacher-forced
cross-entropy on batches of real sequences, its gradient clipped to a global norm of
``grad_clip`` (SeqGAN's and Texygen's 5.0) before each optimiser step (Adam 1e-2 in the
preset). The text GANs (SeqGAN, LeakGAN, RankGAN, TextGAN) will pretrain the same way, as a
phase of their own recipes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.recipes.base import Batches, PartsState, Recipe, Sampler, StepResult
from harness.variants import ARCHITECTURES
from harness.variants.optimizers import make_optimizer


class SequenceSampler(Sampler):
    """A language model's sampler: its bank is uniforms (count, length), one per token, which
    ``sample`` turns into tokens by the inverse CDF; ``log_likelihood`` is its per-token NLL
    of given sequences (the NLL metrics)."""

    def __init__(self, module: torch.nn.Module, length: int) -> None:
        super().__init__(module, length, conditional=False)

    def draw(self, count, generator, truncation=None):
        if truncation is not None:
            raise ValueError("a sequence model has no latent to truncate")
        return torch.rand(count, self.latent_dim, generator=generator)

    def __call__(self, uniforms: torch.Tensor, labels: torch.Tensor | None = None):
        return self.module.sample(uniforms)

    def log_likelihood(self, tokens: torch.Tensor) -> float:
        from harness.evaluate.sequences import mean_nll

        was_training = self.module.training
        self.module.eval()
        try:
            return mean_nll(self.module, tokens)
        finally:
            self.module.train(was_training)


class MLE(PartsState, Recipe):
    name = "mle"

    def __init__(self, spec, data, device: torch.device, seed: int) -> None:
        super().__init__(spec, data, device, seed)
        generator, _ = ARCHITECTURES.get(spec.architecture)(spec, data.info)
        self.G = generator.to(device)
        self.opt_g = make_optimizer(spec.g_opt, self.G.parameters())
        self.steps_done = 0

    def examples_per_step(self) -> int:
        return self.spec.batch_size

    def check(self, batches: Batches) -> None:
        batches.check("real", self.spec.batch_size)

    def counters(self) -> dict[str, int]:
        return {"g_steps": self.steps_done}

    def sampler(self) -> Sampler:
        return SequenceSampler(self.G, self.data.info.shape[0])

    def step(self, batches: Batches) -> StepResult:
        tokens, _ = batches.take("real", self.spec.batch_size)
        logits = self.G.logits(tokens)
        loss = F.cross_entropy(logits.flatten(0, 1), tokens.flatten())
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(
            self.G.parameters(), self.spec.grad_clip or float("inf")
        )
        self.opt_g.step()
        self.steps_done += 1
        return StepResult(
            {"loss_g": loss.detach(), "grad_norm": norm.detach()}, self.spec.batch_size
        )

    def _parts(self) -> dict:
        return {"generator": self.G, "opt_g": self.opt_g}
