"""Likelihood metrics of token sequences (text-gans reference §1.4), per token, natural log:

- ``nll_oracle``: −(1/(N·L)) Σ log p_oracle(x) over the N generated sequences (SeqGAN's
  NLL-oracle, on fresh samples); on the real-data row, the oracle's entropy rate (its own
  held-out samples): the floor.
- ``nll_test``: −(1/(N·L)) Σ log p_G(x) over the held-out sequences (never the training set,
  which Texygen's "nll-test" uses); ``nll_train`` the same on the training sequences, so the
  gap shows memorisation. Undefined for real data (no model).
"""

from __future__ import annotations

import torch

CHUNK = 2000


@torch.no_grad()
def mean_nll(model, tokens: torch.Tensor) -> float:
    """Per-token negative log-likelihood of ``tokens`` under ``model`` (``log_prob``)."""
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, len(tokens), CHUNK):
        chunk = tokens[start : start + CHUNK].to(device)
        total -= float(model.log_prob(chunk).double().sum())
    return total / tokens.numel()


def nll_oracle(context) -> float | None:
    oracle = context.data.extra.get("oracle")
    return None if oracle is None else mean_nll(oracle, context.samples)


def _model_nll(context, tokens) -> float | None:
    sampler = context.sampler
    if sampler is None or not hasattr(sampler, "log_likelihood"):
        return None
    return sampler.log_likelihood(tokens)


def nll_test(context) -> float | None:
    return _model_nll(context, context.data.test_x)


def nll_train(context) -> float | None:
    return _model_nll(context, context.data.train_x)
