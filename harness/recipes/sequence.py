"""Sequence recipes: maximum likelihood, the baseline every text GAN must beat at equal
budget (text-gans reference §4.1), and the sampler text metrics use.

``MLE``: the LSTM generator (``harness.variants.nets.sequence``) trained by teacher-forced
cross-entropy on batches of real sequences, its gradient clipped to a global norm of
``grad_clip`` (SeqGAN's and Texygen's 5.0) before each optimiser step (Adam 1e-2 in the
preset). The text GANs (SeqGAN, LeakGAN, RankGAN, TextGAN) will pretrain the same way, as a
phase of their own recipes.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from harness.recipes.base import Batches, PartsState, Recipe, Sampler, StepResult
from harness.variants import ARCHITECTURES
from harness.variants.optimizers import make_optimizer


class SequenceSampler(Sampler):
    """A language model's sampler: its bank is uniforms (count, length), one per token, which
    ``sample`` turns into tokens by the inverse CDF; ``log_likelihood`` is its per-token NLL
    of given sequences (the NLL metrics)."""

    def __init__(self, module: torch.nn.Module, temperature: float = 1.0) -> None:
        super().__init__(module, module.bank_width, conditional=False)
        self.temperature = temperature

    def at_temperature(self, temperature: float) -> SequenceSampler:
        """The same model sampled and scored at another softmax temperature."""
        return SequenceSampler(self.module, temperature)

    def draw(self, count, generator, truncation=None):
        if truncation is not None:
            raise ValueError("a sequence model has no latent to truncate")
        return torch.rand(count, self.latent_dim, generator=generator)

    def __call__(self, uniforms: torch.Tensor, labels: torch.Tensor | None = None):
        if self.temperature == 1.0:
            return self.module.sample(uniforms)
        return self.module.sample(uniforms, temperature=self.temperature)

    def log_likelihood(self, tokens: torch.Tensor) -> float:
        from harness.evaluate.sequences import mean_nll

        was_training = self.module.training
        self.module.eval()
        try:
            return mean_nll(self.module, tokens, self.temperature)
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
        return SequenceSampler(self.G)

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


class TextGANPhases(PartsState, Recipe):
    """What the text GANs share: three phases switched by the real sequences consumed, all
    against one budget: maximum likelihood of G (``pretrain_kimg``, optimiser ``opt_g``), D
    against fresh samples (``d_pretrain_kimg``), then adversarial steps (``_adversarial``,
    G's updates by an optimiser of its own, ``opt_pg``, fresh when the phase starts: SeqGAN's
    code builds two Adam optimisers; carrying MLE's moment estimates into REINFORCE's summed
    loss blew G up within ten steps here, nll_test 4.8 → 6.8). G's gradient is clipped to
    ``grad_clip``. Subclasses build D (``_discriminator``), say what an adversarial step
    consumes (``_adversarial_examples``) and do it; ``steps_for``/``examples_before`` walk
    the phases. Statistics: ``phase`` (1, 2, 3), ``loss_g``, ``loss_d`` and ``reward`` (0
    where a phase has none)."""

    def __init__(self, spec, data, device: torch.device, seed: int) -> None:
        from harness.train.seeding import derive_seed

        super().__init__(spec, data, device, seed)
        generator, _ = ARCHITECTURES.get(spec.architecture)(spec, data.info)
        self.G = generator.to(device)
        self.D = self._discriminator().to(device)
        self.opt_g = make_optimizer(spec.g_opt, self.G.parameters())
        pg = (
            spec.g_opt
            if not spec.adversarial_lr
            else spec.g_opt.model_copy(update={"lr": spec.adversarial_lr})
        )
        self.opt_pg = make_optimizer(pg, self.G.parameters())
        self.opt_d = make_optimizer(spec.d_opt, self.D.parameters())
        self.sample_rng = torch.Generator().manual_seed(derive_seed(seed, "samples"))
        self.rollout_rng = torch.Generator().manual_seed(derive_seed(seed, "rollouts"))
        self.length = data.info.shape[0]
        self.policy = self._policy()  # what samples: G, or G with what it needs of D
        self.examples = 0  # real sequences consumed
        self.adversarial_steps = 0
        self.steps_done = 0

    def _discriminator(self) -> torch.nn.Module:
        from harness.variants.nets.sequence import TextCNN

        width = self.spec.d_width or 64
        return TextCNN(self.data.info.vocab_size, self.spec.embedding_dim, maps=(width,) * 4)

    def _policy(self) -> torch.nn.Module:
        return self.G

    def _phase(self, examples: int) -> int:
        pretrain = round(self.spec.pretrain_kimg * 1000)
        if examples < pretrain:
            return 1
        return 2 if examples < pretrain + round(self.spec.d_pretrain_kimg * 1000) else 3

    def _adversarial_examples(self, index: int) -> int:
        """Real sequences the adversarial step ``index`` (from 0) consumes."""
        return self.spec.batch_size * self.spec.d_steps

    def _consumed(self, examples: int, adversarial: int) -> int:
        phase = self._phase(examples)
        return self.spec.batch_size if phase < 3 else self._adversarial_examples(adversarial)

    def examples_per_step(self) -> int:
        return self._consumed(self.examples, self.adversarial_steps)

    def _walk(self, stop) -> tuple[int, int]:
        steps = examples = adversarial = 0
        while not stop(steps, examples):
            phase = self._phase(examples)
            examples += self._consumed(examples, adversarial)
            adversarial += phase == 3
            steps += 1
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
        return SequenceSampler(self.policy)

    def _generated(self) -> torch.Tensor:
        shape = (self.spec.batch_size, self.policy.bank_width)
        uniforms = torch.rand(shape, generator=self.sample_rng)
        with torch.no_grad():
            return self.policy.sample(uniforms.to(self.device))

    @contextlib.contextmanager
    def _judging(self):
        """D in evaluation mode (no dropout) while it scores rollouts for G's rewards."""
        self.D.eval()
        try:
            yield
        finally:
            self.D.train()

    def _g_update(self, loss: torch.Tensor, optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.G.parameters(), self.spec.grad_clip or float("inf"))
        optimizer.step()

    def _mle_loss(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.G.logits(tokens).flatten(0, 1), tokens.flatten())

    def _mle_step(self, tokens: torch.Tensor, optimizer) -> torch.Tensor:
        """One maximum-likelihood update of G on real ``tokens``; the loss, for the log."""
        loss = self._mle_loss(tokens)
        self._g_update(loss, optimizer)
        return loss.detach()

    def _d_loss(self, batches: Batches) -> torch.Tensor:
        """D's classification loss on a real batch against a fresh generated one."""
        real, _ = batches.take("real", self.spec.batch_size)
        fake = self._generated()
        logits = self.D(torch.cat([real, fake]))
        targets = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))]).to(self.device)
        return F.binary_cross_entropy_with_logits(logits, targets)

    def _d_update(self, batches: Batches) -> torch.Tensor:
        loss = self._d_loss(batches)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return loss.detach()

    def _adversarial(self, batches: Batches) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def step(self, batches: Batches) -> StepResult:
        phase = self._phase(self.examples)
        consumed = self._consumed(self.examples, self.adversarial_steps)
        zero = torch.tensor(0.0)
        stats = {"phase": torch.tensor(float(phase)), "loss_d": zero, "reward": zero}
        if phase == 1:
            tokens, _ = batches.take("real", self.spec.batch_size)
            stats["loss_g"] = self._mle_step(tokens, self.opt_g)
        elif phase == 2:
            stats["loss_d"] = self._d_update(batches)
            stats["loss_g"] = zero
        else:
            stats |= self._adversarial(batches)
            self.adversarial_steps += 1
        self.examples += consumed
        self.steps_done += 1
        return StepResult(stats, consumed)

    def _parts(self) -> dict:
        parts = {"generator": self.G, "discriminator": self.D, "opt_g": self.opt_g}
        return parts | {
            "opt_pg": self.opt_pg,
            "opt_d": self.opt_d,
            "sample_rng": self.sample_rng,
            "rollout_rng": self.rollout_rng,
        }

    def state_dict(self) -> dict:
        counts = {"examples": self.examples, "adversarial_steps": self.adversarial_steps}
        return {**super().state_dict(), **counts}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.examples = state["examples"]
        self.adversarial_steps = state["adversarial_steps"]


class SeqGAN(TextGANPhases):
    """SeqGAN (Yu et al. 2017): after MLE and D pretraining, each adversarial step is one
    policy-gradient update of G on a batch of its own sequences with Monte-Carlo rollout
    rewards (``rollouts`` completions of every prefix by the current G, D's probability of
    real; eq. 4) and REINFORCE (−Σ log G(y_t | y<t) · Q_t, summed as the paper's code), then
    ``d_steps`` D updates (the CNN with highway) on real against fresh generated batches."""

    name = "seqgan"

    def _reward(self, sequences: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.D(sequences))

    def _rewards(self, sequences: torch.Tensor, batches: Batches) -> torch.Tensor:
        from harness.variants.nets.sequence import rollout_rewards

        with self._judging():
            return rollout_rewards(
                self.policy, self._reward, sequences, self.spec.rollouts, self.rollout_rng
            )

    def _adversarial(self, batches: Batches) -> dict[str, torch.Tensor]:
        sequences = self._generated()
        rewards = self._rewards(sequences, batches)
        loss = -(self.G.log_prob(sequences) * rewards).sum()
        self._g_update(loss, self.opt_pg)
        losses = [self._d_update(batches) for _ in range(self.spec.d_steps)]
        return {
            "loss_g": loss.detach(),
            "loss_d": torch.stack(losses).mean(),
            "reward": rewards.mean(),
        }
