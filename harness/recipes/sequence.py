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


class SeqGAN(PartsState, Recipe):
    """SeqGAN (Yu et al. 2017) in three phases switched by the real sequences consumed, all
    against one budget: maximum likelihood of G for ``pretrain_kimg``; D (the CNN with
    highway) against fresh samples for ``d_pretrain_kimg``; then adversarial steps, each one
    policy-gradient update of G on a batch of its own sequences with Monte-Carlo rollout
    rewards (``rollouts`` completions of every prefix by the current G, D's probability of
    real; eq. 4) and REINFORCE (−Σ log G(y_t | y<t) · Q_t, summed as the paper's code), then
    ``d_steps`` D updates on real against fresh generated batches. G's gradient is clipped to
    ``grad_clip``. Statistics: ``phase`` (1, 2, 3), ``loss_g`` (MLE or policy loss),
    ``loss_d`` and ``reward`` (0 where a phase has none)."""

    name = "seqgan"

    def __init__(self, spec, data, device: torch.device, seed: int) -> None:
        from harness.train.seeding import derive_seed
        from harness.variants.nets.sequence import TextCNN

        super().__init__(spec, data, device, seed)
        generator, _ = ARCHITECTURES.get(spec.architecture)(spec, data.info)
        self.G = generator.to(device)
        width = spec.d_width or 64
        self.D = TextCNN(data.info.vocab_size, spec.embedding_dim, maps=(width,) * 4).to(device)
        self.opt_g = make_optimizer(spec.g_opt, self.G.parameters())
        self.opt_d = make_optimizer(spec.d_opt, self.D.parameters())
        self.sample_rng = torch.Generator().manual_seed(derive_seed(seed, "samples"))
        self.rollout_rng = torch.Generator().manual_seed(derive_seed(seed, "rollouts"))
        self.length = data.info.shape[0]
        self.examples = 0  # real sequences consumed
        self.steps_done = 0

    def _phase(self, examples: int) -> int:
        pretrain = round(self.spec.pretrain_kimg * 1000)
        if examples < pretrain:
            return 1
        return 2 if examples < pretrain + round(self.spec.d_pretrain_kimg * 1000) else 3

    def _per_step(self, phase: int) -> int:
        return self.spec.batch_size * (self.spec.d_steps if phase == 3 else 1)

    def examples_per_step(self) -> int:
        return self._per_step(self._phase(self.examples))

    def _walk(self, stop) -> tuple[int, int]:
        steps = examples = 0
        while not stop(steps, examples):
            steps, examples = steps + 1, examples + self._per_step(self._phase(examples))
        return steps, examples

    def steps_for(self, examples: float) -> int:
        return max(1, self._walk(lambda _, seen: seen >= examples)[0])

    def examples_before(self, steps: int) -> int:
        return self._walk(lambda done, _: done >= steps)[1]

    def check(self, batches: Batches) -> None:
        batches.check("real", self.spec.batch_size)

    def counters(self) -> dict[str, int]:
        return {"g_steps": self.steps_done}

    def sampler(self) -> Sampler:
        return SequenceSampler(self.G, self.length)

    def _generated(self) -> torch.Tensor:
        uniforms = torch.rand(self.spec.batch_size, self.length, generator=self.sample_rng)
        with torch.no_grad():
            return self.G.sample(uniforms.to(self.device))

    def _g_update(self, loss: torch.Tensor) -> None:
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.G.parameters(), self.spec.grad_clip or float("inf"))
        self.opt_g.step()

    def _d_update(self, batches: Batches) -> torch.Tensor:
        real, _ = batches.take("real", self.spec.batch_size)
        fake = self._generated()
        logits = self.D(torch.cat([real, fake]))
        targets = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))]).to(self.device)
        loss = F.binary_cross_entropy_with_logits(logits, targets)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return loss.detach()

    def step(self, batches: Batches) -> StepResult:
        from harness.variants.nets.sequence import rollout_rewards

        phase = self._phase(self.examples)
        zero = torch.tensor(0.0)
        stats = {"phase": torch.tensor(float(phase)), "loss_d": zero, "reward": zero}
        if phase == 1:
            tokens, _ = batches.take("real", self.spec.batch_size)
            loss = F.cross_entropy(self.G.logits(tokens).flatten(0, 1), tokens.flatten())
            self._g_update(loss)
            stats["loss_g"] = loss.detach()
        elif phase == 2:
            stats["loss_d"] = self._d_update(batches)
            stats["loss_g"] = zero
        else:
            sequences = self._generated()
            self.D.eval()
            rewards = rollout_rewards(
                self.G, self.D, sequences, self.spec.rollouts, self.rollout_rng
            )
            self.D.train()
            loss = -(self.G.log_prob(sequences) * rewards).sum()
            self._g_update(loss)
            losses = [self._d_update(batches) for _ in range(self.spec.d_steps)]
            stats |= {"loss_g": loss.detach(), "loss_d": torch.stack(losses).mean()}
            stats["reward"] = rewards.mean()
        consumed = self._per_step(phase)
        self.examples += consumed
        self.steps_done += 1
        return StepResult(stats, consumed)

    def _parts(self) -> dict:
        parts = {"generator": self.G, "discriminator": self.D, "opt_g": self.opt_g}
        return parts | {
            "opt_d": self.opt_d,
            "sample_rng": self.sample_rng,
            "rollout_rng": self.rollout_rng,
        }

    def state_dict(self) -> dict:
        return {**super().state_dict(), "examples": self.examples}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.examples = state["examples"]
