"""RankGAN (Lin et al. 2017): a ranker in place of SeqGAN's classifier.

The ranker is SeqGAN's CNN with highway (``TextCNN``); its feature vector y gives the
relevance of a sentence s to a human-written reference u, α(s|u) = cos(y_s, y_u). The
ranking score of s among a comparison set C is

    R(s | U, C) = (1/|U|) Σ_{u∈U} exp(γ α(s|u)) / Σ_{s'∈C∪{s}} exp(γ α(s'|u))

(eq. 3–4), averaged over a reference set U of ``reference_size`` real sentences drawn
afresh for each use. The ranker maximises log R(s | U, C⁻) for real s ranked against
generated sentences C⁻ plus log(1 − R(s | U, C⁺)) for generated s ranked against real ones
C⁺ (eq. 2); G's reward is R of its sentences against real ones, by the same Monte-Carlo
rollouts and REINFORCE as SeqGAN (eq. 6). Each comparison set is one batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.recipes.base import Batches
from harness.recipes.sequence import SeqGAN


def ranking_scores(
    candidates: torch.Tensor, comparison: torch.Tensor, references: torch.Tensor, gamma: float
) -> torch.Tensor:
    """R(s | U, C) for each candidate feature row s, each ranked in a softmax over
    ``{s} ∪ comparison`` of γ times its cosine to each reference, averaged over the
    references: (candidates,) in (0, 1)."""
    candidates, comparison, references = (
        F.normalize(x, dim=1) for x in (candidates, comparison, references)
    )
    own = gamma * candidates @ references.T  # (candidates, references)
    others = torch.logsumexp(gamma * comparison @ references.T, dim=0)  # (references,)
    log_score = own - torch.logaddexp(own, others.unsqueeze(0))
    return log_score.exp().mean(dim=1)


class RankGAN(SeqGAN):
    """RankGAN's phases are SeqGAN's; D (the ranker) pretrains and trains on eq. 2, G's
    rewards are ranking scores against a real comparison batch. Each adversarial step
    consumes a real comparison batch and a reference set for G's rewards, and as many again
    for each of the ``d_steps`` ranker updates."""

    name = "rankgan"

    def _references(self, batches: Batches) -> torch.Tensor:
        tokens, _ = batches.take("real", self.spec.reference_size)
        return self.D.features(tokens)

    def _adversarial_examples(self, index: int) -> int:
        return (self.spec.batch_size + self.spec.reference_size) * (self.spec.d_steps + 1)

    def _consumed(self, examples: int, adversarial: int) -> int:
        if self._phase(examples) == 2:  # ranker pretraining also draws its references
            return self.spec.batch_size + self.spec.reference_size
        return super()._consumed(examples, adversarial)

    def check(self, batches: Batches) -> None:
        batches.check("real", self.spec.batch_size)
        batches.check("real", self.spec.reference_size)

    def _d_loss(self, batches: Batches) -> torch.Tensor:
        real, _ = batches.take("real", self.spec.batch_size)
        references = self._references(batches)
        real_features = self.D.dropout(self.D.features(real))
        fake_features = self.D.dropout(self.D.features(self._generated()))
        gamma = self.spec.rank_gamma
        real_scores = ranking_scores(real_features, fake_features, references, gamma)
        fake_scores = ranking_scores(fake_features, real_features, references, gamma)
        return -(real_scores.log().mean() + torch.log1p(-fake_scores).mean())

    def _rewards(self, sequences: torch.Tensor, batches: Batches) -> torch.Tensor:
        from harness.variants.nets.sequence import rollout_rewards

        with self._judging():
            with torch.no_grad():
                real, _ = batches.take("real", self.spec.batch_size)
                comparison = self.D.features(real)
                references = self._references(batches)

            def score(completed: torch.Tensor) -> torch.Tensor:
                features = self.D.features(completed)
                return ranking_scores(features, comparison, references, self.spec.rank_gamma)

            return rollout_rewards(
                self.policy, score, sequences, self.spec.rollouts, self.rollout_rng
            )
