"""TextGAN's nets (Zhang et al. 2017): an LSTM generator driven by a latent code, with the
soft argmax that makes its sentences differentiable, and SeqGAN's CNN discriminator with a
head that reconstructs the latent code from its features.

``LatentLSTM``: SeqGAN's LSTM language model whose initial hidden state is tanh(W z + b) for
z ~ N(0, I_latent). Generation for the adversarial loss feeds back, at each step, the
embedding average W_e · softmax(L · logits) with a large constant L (``soft_argmax``: 1,000
in the authors' Theano and TensorFlow code; not Gumbel, not annealed), so D's features of
generated sentences are differentiable in G's parameters. Sampling for evaluation draws
tokens at temperature 1: its bank row is ``latent`` uniforms (z by the normal inverse CDF)
then one uniform per token. Its likelihood of a sentence is the mixture over z, estimated by
``MARGINAL_DRAWS`` fixed prior draws: log (1/K) Σ_k p(x | z_k), a stochastic lower bound of
log p(x) that is exact as K grows (its NLL an upper bound); the draws are the same for every
model and evaluation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from harness.variants.nets.sequence import LSTMModel, TextCNN, normal_init

MARGINAL_DRAWS = 16


class LatentLSTM(LSTMModel):
    def __init__(self, vocab: int, length: int, embedding: int, hidden: int, latent: int):
        super().__init__(vocab, length, embedding, hidden)
        self.latent = latent
        self.init = nn.Linear(latent, hidden)
        draws = torch.randn(MARGINAL_DRAWS, latent, generator=torch.Generator().manual_seed(0))
        self.register_buffer("marginal_z", draws, persistent=False)

    @property
    def bank_width(self) -> int:
        return self.latent + self.length

    def initial_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(self.init(z)).unsqueeze(0)
        return h, torch.zeros_like(h)

    def logits(self, tokens: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits given z (zeros when none)."""
        if z is None:
            z = torch.zeros(len(tokens), self.latent, device=tokens.device)
        hidden, _ = self.lstm(self.embed(self._inputs(tokens)), self.initial_state(z))
        return self.out(hidden)

    def conditional_log_prob(
        self, tokens: torch.Tensor, z: torch.Tensor, temperature: float = 1.0
    ) -> torch.Tensor:
        logits = F.log_softmax(self.logits(tokens, z) / temperature, dim=-1)
        return logits.gather(2, tokens.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, tokens: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """The marginal estimate log (1/K) Σ_k p(x | z_k), spread evenly over the positions
        (batch, length), so its sum over a sentence is the sentence's estimate."""
        per_draw = torch.stack(
            [
                self.conditional_log_prob(tokens, z.expand(len(tokens), -1), temperature).sum(1)
                for z in self.marginal_z
            ]
        )
        marginal = torch.logsumexp(per_draw, dim=0) - math.log(len(self.marginal_z))
        return (marginal / tokens.shape[1]).unsqueeze(1).expand(-1, tokens.shape[1])

    def sample(self, uniforms: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        u = uniforms[:, : self.latent].clamp(1e-7, 1 - 1e-7)
        z = math.sqrt(2) * torch.erfinv(2 * u - 1)
        empty = torch.zeros(len(uniforms), 0, dtype=torch.long, device=uniforms.device)
        return self.complete(empty, uniforms[:, self.latent :], temperature, self.initial_state(z))

    def soft_sequence(self, z: torch.Tensor, scale: float) -> torch.Tensor:
        """Sentences as (batch, length, vocab) distributions softmax(scale · logits), each
        step fed the embedding average of the previous step's distribution."""
        state = self.initial_state(z)
        start = torch.full((len(z), 1), self.vocab, dtype=torch.long, device=z.device)
        x, out = self.embed(start), []
        for _ in range(self.length):
            hidden, state = self.lstm(x, state)
            soft = F.softmax(scale * self.out(hidden[:, 0]), dim=-1)
            out.append(soft)
            x = (soft @ self.embed.weight[: self.vocab]).unsqueeze(1)
        return torch.stack(out, dim=1)


class TextGANDiscriminator(TextCNN):
    """SeqGAN's CNN with a second head from the features to the latent code (TextGAN's
    reconstruction term)."""

    def __init__(self, vocab: int, embedding: int, maps: tuple[int, ...], latent: int):
        super().__init__(vocab, embedding, maps=maps)
        self.recon = nn.Linear(sum(maps), latent)


def build(variant, info):
    """TextGAN's generator: the LSTM of SeqGAN (embedding ``embedding_dim``, hidden
    ``width``, N(0, 0.1²) initialisation) started from z of ``latent_dim``."""
    model = LatentLSTM(
        info.vocab_size, info.shape[0], variant.embedding_dim, variant.width, variant.latent_dim
    )
    normal_init(model, 0.1)
    return model, None


def mmd2(x: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """The (biased, V-statistic) squared MMD between rows of x and y under the Gaussian
    kernel exp(−‖a − b‖² / (2σ²))."""

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * sigma**2)).mean()

    return kernel(x, x) + kernel(y, y) - 2 * kernel(x, y)
