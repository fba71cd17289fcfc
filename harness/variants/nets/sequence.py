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

    def log_prob(self, tokens: torch.Tensor) -> torch.Tensor:
        """log p(token_t | prefix) for every position: (batch, length)."""
        logits = F.log_softmax(self.logits(tokens), dim=-1)
        return logits.gather(2, tokens.unsqueeze(-1)).squeeze(-1)

    def sample(self, uniforms: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """Tokens (batch, length) drawn by the inverse CDF at ``uniforms`` in [0, 1)."""
        batch = len(uniforms)
        token = torch.full((batch, 1), self.vocab, dtype=torch.long, device=uniforms.device)
        state, out = None, []
        for t in range(uniforms.shape[1]):
            hidden, state = self.lstm(self.embed(token), state)
            probs = F.softmax(self.out(hidden[:, 0]) / temperature, dim=-1)
            cdf = probs.double().cumsum(dim=-1)
            target = uniforms[:, t : t + 1].double() * cdf[:, -1:]
            token = torch.searchsorted(cdf, target, right=True).clamp_max(self.vocab - 1)
            out.append(token)
        return torch.cat(out, dim=1)

    def forward(self, uniforms: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.sample(uniforms)


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
