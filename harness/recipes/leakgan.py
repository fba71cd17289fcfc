"""LeakGAN (Guo et al. 2018): a hierarchical generator (``harness.variants.nets.leakgan``)
reading D's features of its partial sentence, trained by rewards from Monte-Carlo rollouts.

Phases as every text GAN here (``TextGANPhases``). Pretraining (phase 1) is the worker's
cross-entropy on real sentences plus the manager's goal loss with unit reward
−Σ_t cos(f_{t+c} − f_t, g_t) (the goals point where real sentences' features move).
An adversarial step:

1. a batch of G's sentences; D's probability of real on ``rollouts`` completions of every
   prefix ending a c-step segment (t = c, 2c, ...; c = ``step_size``) and on the whole
   sentence gives each segment's reward Q;
2. **bootstrapped rescaled activation**: in each segment the batch's rewards are replaced by
   σ(δ (0.5 − rank / B)), rank 1 the best of the B, δ = 16 (eq. 13);
3. the manager descends −Σ_t Q_seg(t) cos(f_{t+c} − f_t, g_t) (eq. 10); the worker
   REINFORCE with the intrinsic reward r_t = (1/c) Σ_{i=1..c} cos(f_{t+1} − f_{t+1−i},
   g_{t+1−i}) of the feature its token moved to (eq. 11);
4. **interleaved MLE**: every ``mle_every``-th adversarial step also takes one MLE batch
   (the paper interleaves MLE epochs; 0: never);
5. ``d_steps`` D updates on real against fresh generated batches.

Sampling, rollouts and likelihoods are at temperature 1 (the original code's 1.5×-sharpened
sampling is not used: Texygen's NLL-oracle of LeakGAN was measured on it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.recipes.base import Batches
from harness.recipes.sequence import TextGANPhases

RESCALE_DELTA = 16.0


def rescale(rewards: torch.Tensor, delta: float = RESCALE_DELTA) -> torch.Tensor:
    """LeakGAN's bootstrapped rescaled activation, per column: σ(δ (0.5 − rank/B)) with the
    batch's highest reward ranked 1 (ties by position)."""
    batch = rewards.shape[0]
    order = rewards.argsort(dim=0, descending=True, stable=True)
    ranks = torch.empty_like(order)
    positions = torch.arange(1, batch + 1, device=rewards.device).unsqueeze(1)
    ranks.scatter_(0, order, positions.expand_as(order))
    return torch.sigmoid(delta * (0.5 - ranks.to(rewards.dtype) / batch))


def goal_cosines(goals: torch.Tensor, features: torch.Tensor, step: int) -> torch.Tensor:
    """cos(f_{t+c} − f_t, g_t) for t = 0..L−c: (batch, L − c + 1)."""
    length = goals.shape[1]
    moves = features[:, step : length + 1] - features[:, : length + 1 - step]
    return F.cosine_similarity(moves, goals[:, : length + 1 - step], dim=2)


def intrinsic_rewards(goals: torch.Tensor, features: torch.Tensor, step: int) -> torch.Tensor:
    """The worker's reward for its token at t: (1/c) Σ_{i=1..c} cos(f_{t+1} − f_{t+1−i},
    g_{t+1−i}), over the i with t + 1 − i ≥ 0: (batch, L)."""
    length = goals.shape[1]
    rewards = torch.zeros(goals.shape[:2], device=goals.device)
    for i in range(1, step + 1):
        start = i - 1  # the first t with t + 1 − i ≥ 0
        moves = features[:, start + 1 : length + 1] - features[:, : length + 1 - i]
        rewards[:, start:] += F.cosine_similarity(moves, goals[:, : length + 1 - i], dim=2)
    return rewards / step


class LeakGAN(TextGANPhases):
    name = "leakgan"

    def _policy(self) -> torch.nn.Module:
        from harness.variants.nets.leakgan import LeakedPolicy

        return LeakedPolicy(self.G, self.D)

    def _interleaved(self, index: int) -> bool:
        every = self.spec.mle_every
        return every > 0 and index % every == every - 1

    def _adversarial_examples(self, index: int) -> int:
        mle = self.spec.batch_size if self._interleaved(index) else 0
        return self.spec.batch_size * self.spec.d_steps + mle

    def _mle_losses(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pretraining's two losses on real sequences: the manager's (its goals against the
        moves of D's features) and the worker's (cross-entropy)."""
        _, log_probs, goals, features = self.policy.unroll(tokens)
        manager = -goal_cosines(goals, features, self.spec.step_size).mean()
        return manager, -log_probs.mean()

    def _mle_step(self, tokens: torch.Tensor, optimizer) -> torch.Tensor:
        manager, worker = self._mle_losses(tokens)
        self._split_update(manager, worker, optimizer)
        return (manager + worker).detach()

    def _manager_parameters(self) -> list[torch.nn.Parameter]:
        return [*self.G.manager.parameters(), *self.G.goal.parameters()]

    def _split_update(self, manager_loss: torch.Tensor, worker_loss: torch.Tensor, optimizer):
        """LeakGAN's G update as the original code makes it, two updates from one forward
        pass: the manager's parameters (its LSTM and goal layer) by the manager's loss only,
        the worker's (embedding, worker LSTM, action matrix, goal projection) by the worker's
        only (the goals reach the worker detached), each loss a mean and each group's
        gradient clipped to its own norm. Version 1 summed both losses over the batch and
        clipped them jointly, so the manager's gradient set the worker's step size (measured
        from one pretrained G, V = 500: NLL-oracle 10.1 against 5.2 after 40 adversarial
        steps; held-out NLL collapses in both, 17.1 and 16.0 from 4.8)."""
        manager = self._manager_parameters()
        known = {id(p) for p in manager}
        worker = [p for p in self.G.parameters() if id(p) not in known]
        optimizer.zero_grad(set_to_none=True)
        for part, group in ((manager_loss, manager), (worker_loss, worker)):
            grads = torch.autograd.grad(part, group, retain_graph=True, allow_unused=True)
            for parameter, grad in zip(group, grads, strict=True):
                parameter.grad = grad
            torch.nn.utils.clip_grad_norm_(group, self.spec.grad_clip or float("inf"))
        optimizer.step()

    def _g_update(self, loss: torch.Tensor, optimizer) -> None:
        raise TypeError(
            "LeakGAN updates G by its manager's and worker's losses apart: use _split_update"
        )

    def _segment_rewards(self, sequences: torch.Tensor) -> torch.Tensor:
        """Q per token position (batch, L): the rescaled reward of its c-step segment."""
        from harness.variants.nets.sequence import rollout_rewards

        step, length = self.spec.step_size, self.length
        with self._judging():
            rewards = rollout_rewards(
                self.policy,
                lambda x: torch.sigmoid(self.D(x)),
                sequences,
                self.spec.rollouts,
                self.rollout_rng,
                prefixes=range(step, length, step),
            )
        ends = [*range(step - 1, length - 1, step), length - 1]
        segments = rescale(rewards[:, ends])
        index = (torch.arange(length) // step).clamp_max(len(ends) - 1)
        return segments[:, index.to(segments.device)]

    def _adversarial(self, batches: Batches) -> dict[str, torch.Tensor]:
        step = self.spec.step_size
        sequences = self._generated()
        rewards = self._segment_rewards(sequences)
        _, log_probs, goals, features = self.policy.unroll(sequences)
        cosines = goal_cosines(goals, features, step)
        manager = -(rewards[:, : cosines.shape[1]] * cosines).mean()
        intrinsic = intrinsic_rewards(goals.detach(), features, step)
        worker = -(intrinsic * log_probs).mean()
        self._split_update(manager, worker, self.opt_pg)
        if self._interleaved(self.adversarial_steps):
            tokens, _ = batches.take("real", self.spec.batch_size)
            self._mle_step(tokens, self.opt_g)
        losses = [self._d_update(batches) for _ in range(self.spec.d_steps)]
        return {
            "loss_g": (manager + worker).detach(),
            "loss_d": torch.stack(losses).mean(),
            "reward": rewards.mean(),
        }
