"""LeakGAN's generator (Guo et al. 2018): a manager and a worker fed D's leaked features.

At step t (0-based), with f_t the discriminator's feature vector of the first t tokens (the
partial sentence padded to full length with D's padding token):

- the **manager**, an LSTM cell on f_t, emits a unit goal g_t in feature space;
- the goals of the last c = ``step_size`` steps (this one included) are summed and projected
  by ψ (linear, no bias, no gradient back to the manager) to w_t of ``goal_size``;
- the **worker**, an LSTM cell on the previous token's embedding, emits a matrix O_t
  (vocab × goal_size); the next token's logits are O_t · w_t.

``unroll`` runs both over a sentence, teacher-forced for a given prefix and sampled by the
inverse CDF after it, and returns the tokens, the log-probabilities of the chosen tokens,
the goals and the leaked features (``features[:, t]`` of the first t tokens, t = 0..L). The
recipe (``harness.recipes.leakgan``) trains the manager towards feature directions that earn
D's reward and the worker by intrinsic rewards for following the goals. ``LeakedPolicy``
pairs G with the D it reads, for sampling, rollouts and likelihoods.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.variants.nets.sequence import inverse_cdf, normal_init


class LeakGANGenerator(nn.Module):
    def __init__(
        self,
        vocab: int,
        length: int,
        embedding: int,
        hidden: int,
        features: int,
        goal_size: int,
        step_size: int,
    ) -> None:
        super().__init__()
        self.vocab, self.length, self.step_size = vocab, length, step_size
        self.goal_size = goal_size
        self.manager = nn.LSTMCell(features, hidden)
        self.goal = nn.Linear(hidden, features)
        self.embed = nn.Embedding(vocab + 1, embedding)  # + the start token
        self.worker = nn.LSTMCell(embedding, hidden)
        self.actions = nn.Linear(hidden, vocab * goal_size)
        self.psi = nn.Linear(features, goal_size, bias=False)

    def unroll(
        self,
        leak,
        prefix: torch.Tensor,
        uniforms: torch.Tensor | None = None,
        pad: int | None = None,
        temperature: float = 1.0,
    ):
        """``prefix`` (batch, t) forced, then ``length − t`` tokens drawn at ``uniforms``
        (batch, length − t). ``leak`` maps padded sentences (batch, length) to D's features;
        ``pad`` is D's padding token (default ``vocab``); tokens are drawn and scored at the
        softmax ``temperature``. Returns tokens (batch, length),
        log-probabilities of each chosen token (batch, length), goals (batch, length, F) and
        features (batch, length + 1, F)."""
        batch, device = len(prefix), prefix.device
        pad = self.vocab if pad is None else pad
        tokens = torch.full((batch, self.length), pad, dtype=torch.long, device=device)
        token = torch.full((batch,), self.vocab, dtype=torch.long, device=device)  # start
        manager_state = worker_state = None
        goals, features, log_probs = [], [], []
        forced = prefix_features(leak, prefix, self.length, pad)  # known prefixes at once
        for t in range(self.length):
            feature = forced[t] if t < len(forced) else leak(tokens)
            features.append(feature)
            manager_state = self.manager(feature, manager_state)
            goals.append(F.normalize(self.goal(manager_state[0]), dim=1))
            recent = torch.stack(goals[-self.step_size :]).sum(dim=0).detach()
            worker_state = self.worker(self.embed(token), worker_state)
            actions = self.actions(worker_state[0]).view(batch, self.vocab, self.goal_size)
            logits = (actions @ self.psi(recent).unsqueeze(2)).squeeze(2)
            log_softmax = F.log_softmax(logits / temperature, dim=-1)
            if t < prefix.shape[1]:
                token = prefix[:, t]
            else:
                token = inverse_cdf(log_softmax.exp(), uniforms[:, t - prefix.shape[1]])[:, 0]
            log_probs.append(log_softmax.gather(1, token.unsqueeze(1))[:, 0])
            tokens = tokens.clone()
            tokens[:, t] = token
        features.append(forced[-1] if len(forced) > self.length else leak(tokens))
        return tokens, torch.stack(log_probs, 1), torch.stack(goals, 1), torch.stack(features, 1)


LEAK_CHUNK = 8192  # padded prefixes D reads at once


def prefix_features(leak, prefix: torch.Tensor, length: int, pad: int) -> torch.Tensor:
    """D's features of the first t tokens of ``prefix`` (batch, T), padded to ``length``,
    for t = 0..T: (T + 1, batch, F), in chunks of ``LEAK_CHUNK`` sentences."""
    batch, known = prefix.shape
    padded = torch.full((known + 1, batch, length), pad, dtype=torch.long, device=prefix.device)
    for t in range(1, known + 1):
        padded[t, :, :t] = prefix[:, :t]
    flat = padded.flatten(0, 1)
    out = torch.cat([leak(flat[i : i + LEAK_CHUNK]) for i in range(0, len(flat), LEAK_CHUNK)])
    return out.view(known + 1, batch, -1)


class LeakedPolicy(nn.Module):
    """G with the D whose features it reads: the language-model interface (``sample``,
    ``complete``, ``log_prob``, ``vocab``, ``bank_width``) the samplers, rollouts and NLL
    metrics use. D's features are read without gradient."""

    def __init__(self, generator: LeakGANGenerator, discriminator: nn.Module) -> None:
        super().__init__()
        self.generator, self.discriminator = generator, discriminator
        self.vocab, self.length = generator.vocab, generator.length

    @property
    def bank_width(self) -> int:
        return self.length

    def leak(self, tokens: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.discriminator.features(tokens)

    def unroll(self, prefix: torch.Tensor, uniforms=None, temperature: float = 1.0):
        pad = self.discriminator.vocab
        return self.generator.unroll(self.leak, prefix, uniforms, pad, temperature)

    def complete(self, prefix: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        return self.unroll(prefix, uniforms)[0]

    def sample(self, uniforms: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        empty = torch.zeros(len(uniforms), 0, dtype=torch.long, device=uniforms.device)
        return self.unroll(empty, uniforms, temperature)[0]

    def log_prob(self, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        return self.unroll(tokens, temperature=temperature)[1]

    def forward(self, uniforms: torch.Tensor, labels: torch.Tensor | None = None):
        return self.sample(uniforms)


def build(variant, info):
    """LeakGAN's generator: manager and worker LSTMs of hidden ``width``, embedding
    ``embedding_dim``, goals in the feature space of the recipe's D (4 filter widths ×
    ``d_width`` maps), ``goal_size`` and ``step_size`` from the spec; N(0, 0.1²) init."""
    features = 4 * (variant.d_width or 64)
    model = LeakGANGenerator(
        info.vocab_size,
        info.shape[0],
        variant.embedding_dim,
        variant.width,
        features,
        variant.goal_size,
        variant.step_size,
    )
    normal_init(model, 0.1)
    return model, None
