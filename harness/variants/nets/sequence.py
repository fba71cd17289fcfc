"""Token-sequence models: the LSTM language model every text GAN's generator is, and the
synthetic oracle of SeqGAN's benchmark is (Yu et al. 2017).

``LSTMModel``: a start token (id ``vocab``, never emitted) then ``length`` tokens from
``vocab``; embedding → one LSTM layer → a linear layer to the vocabulary. ``log_prob`` is the
teacher-forced log-likelihood of each token; ``sample(u)`` draws tokens by the inverse CDF of
each step's distribution at the uniforms ``u`` (batch, length), so a bank of uniforms is a
reproducible sample at any batch size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LSTMModel(nn.Module):
    def __init__(self, vocab: int, length: int, embedding: int, hidden: int) -> None:
        super().__init__()
        self.vocab, self.length = vocab, length
        self.embed = nn.Embedding(vocab + 1, embedding)  # + the start token
        self.lstm = nn.LSTM(embedding, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def _inputs(self, tokens: torch.Tensor) -> torch.Tensor:
        start = torch.full((len(tokens), 1), self.vocab, dtype=torch.long, device=tokens.device)
        return torch.cat([start, tokens[:, :-1]], dim=1)

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (batch, length, vocab) of each position given its prefix."""
        hidden, _ = self.lstm(self.embed(self._inputs(tokens)))
        return self.out(hidden)

    def log_prob(self, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """log p(token_t | prefix) for every position: (batch, length); at a softmax
        ``temperature``, the model whose samples ``sample`` draws at it."""
        logits = F.log_softmax(self.logits(tokens) / temperature, dim=-1)
        return logits.gather(2, tokens.unsqueeze(-1)).squeeze(-1)

    def sample(self, uniforms: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Tokens (batch, length) drawn by the inverse CDF at ``uniforms`` in [0, 1)."""
        empty = torch.zeros(len(uniforms), 0, dtype=torch.long, device=uniforms.device)
        return self.complete(empty, uniforms, temperature)

    @property
    def bank_width(self) -> int:
        """Uniforms one sample needs: one per token."""
        return self.length

    def complete(
        self,
        prefix: torch.Tensor,
        uniforms: torch.Tensor,
        temperature: float = 1.0,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``prefix`` (batch, t) followed by ``uniforms.shape[1]`` tokens drawn given it, by
        the inverse CDF at ``uniforms``: SeqGAN's Monte-Carlo rollout of a prefix. ``state``:
        the LSTM's initial (h, c), zeros by default."""
        start = torch.full((len(prefix), 1), self.vocab, dtype=torch.long, device=prefix.device)
        hidden, state = self.lstm(self.embed(torch.cat([start, prefix], dim=1)), state)
        last, out, token = hidden[:, -1], [prefix], None
        for t in range(uniforms.shape[1]):
            if token is not None:
                step, state = self.lstm(self.embed(token), state)
                last = step[:, 0]
            token = inverse_cdf(F.softmax(self.out(last) / temperature, dim=-1), uniforms[:, t])
            out.append(token)
        return torch.cat(out, dim=1)

    def forward(self, uniforms: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.sample(uniforms)


def inverse_cdf(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """One token per row of ``probs`` (batch, vocab), the inverse CDF at ``uniforms``
    (batch,) in [0, 1): (batch, 1)."""
    cdf = probs.double().cumsum(dim=-1)
    target = uniforms.unsqueeze(1).double() * cdf[:, -1:]
    return torch.searchsorted(cdf, target, right=True).clamp_max(probs.shape[1] - 1)


def normal_init(model: nn.Module, std: float, generator: torch.Generator | None = None) -> None:
    """Every parameter drawn from N(0, std²), in the module's parameter order."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)


def build(variant, info):
    """The LSTM generator of the text GANs and MLE: embedding ``embedding_dim``, hidden
    ``width``, N(0, 0.1²) initialisation (SeqGAN's); no discriminator (its recipe adds one)."""
    model = LSTMModel(info.vocab_size, info.shape[0], variant.embedding_dim, variant.width)
    normal_init(model, 0.1)
    return model, None


class Highway(nn.Module):
    """One highway layer (Srivastava et al. 2015), as SeqGAN's discriminator uses it:
    t·ReLU(H x) + (1 − t)·x with the transform gate t = σ(T x)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.transform, self.gate = nn.Linear(features, features), nn.Linear(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.gate(x))
        return gate * F.relu(self.transform(x)) + (1 - gate) * x


class TextCNN(nn.Module):
    """SeqGAN's discriminator (after Kim 2014): token embedding, one convolution per filter
    width over whole embeddings, ReLU, max over time, concatenated, a highway layer, dropout,
    and a linear layer to one logit (real vs generated). ``features`` is the penultimate
    vector (LeakGAN leaks it to its generator; RankGAN ranks by it; TextGAN matches it).
    Token id ``vocab`` is padding (LeakGAN's partial sentences); ``soft_features`` reads
    distributions over the vocabulary instead of tokens (TextGAN's soft argmax)."""

    def __init__(
        self,
        vocab: int,
        embedding: int,
        widths: tuple[int, ...] = (2, 3, 4, 5),
        maps: tuple[int, ...] = (64, 64, 64, 64),
        dropout: float = 0.25,
    ) -> None:
        super().__init__()
        if len(widths) != len(maps):
            raise ValueError(f"{len(widths)} filter widths but {len(maps)} map counts")
        self.vocab = vocab
        self.embed = nn.Embedding(vocab + 1, embedding)  # + padding
        self.convs = nn.ModuleList(
            nn.Conv2d(1, count, (width, embedding))
            for width, count in zip(widths, maps, strict=True)
        )
        self.highway = Highway(sum(maps))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(sum(maps), 1)

    def embedded_features(self, x: torch.Tensor) -> torch.Tensor:
        """Features of embedded sequences (batch, length, embedding)."""
        x = x.unsqueeze(1)  # (batch, 1, length, embedding)
        pooled = [F.relu(conv(x)).squeeze(3).amax(dim=2) for conv in self.convs]
        return self.highway(torch.cat(pooled, dim=1))

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embedded_features(self.embed(tokens))

    def soft_features(self, distributions: torch.Tensor) -> torch.Tensor:
        """Features of (batch, length, vocab) distributions: each position embedded as the
        expectation of the token embeddings (a one-hot gives the token's own)."""
        return self.embedded_features(distributions @ self.embed.weight[: self.vocab])

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(features)).squeeze(1)

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.classify(self.features(tokens))


@torch.no_grad()
def rollout_rewards(
    generator,
    score,
    sequences: torch.Tensor,
    rollouts: int,
    rng: torch.Generator,
    prefixes: range | None = None,
) -> torch.Tensor:
    """SeqGAN's rewards (Yu et al. 2017, eq. 4): for every prefix length t < L the mean,
    over ``rollouts`` Monte-Carlo completions of the prefix by ``generator.complete``, of
    ``score`` (a sequence → reward map: D's probability of real for SeqGAN, the ranking score
    for RankGAN) on the completed sequences; for t = L, the score of the whole sequence.
    Returns (batch, length), column t − 1 the reward of prefix length t; the completions keep
    each prefix and redraw only the later tokens. ``prefixes`` limits the prefix lengths
    rolled out (LeakGAN's segment boundaries); other columns stay 0."""
    batch, length = sequences.shape
    rewards = torch.zeros(batch, length, device=sequences.device)
    for t in prefixes if prefixes is not None else range(1, length):
        prefix = sequences[:, :t].repeat(rollouts, 1)
        uniforms = torch.rand(len(prefix), length - t, generator=rng).to(sequences.device)
        completed = generator.complete(prefix, uniforms)
        rewards[:, t - 1] = score(completed).view(rollouts, batch).mean(dim=0)
    rewards[:, -1] = score(sequences)
    return rewards
