"""Likelihood metrics of token sequences (text-gans reference §1.4), per token, natural log:

- ``nll_oracle``: −(1/(N·L)) Σ log p_oracle(x) over the N generated sequences (SeqGAN's
  NLL-oracle, on fresh samples); on the real-data row, the oracle's entropy rate (its own
  held-out samples): the floor.
- ``nll_test``: −(1/(N·L)) Σ log p_G(x) over the held-out sequences (never the training set,
  which Texygen's "nll-test" uses); ``nll_train`` the same on the training sequences, so the
  gap shows memorisation. Undefined for real data (no model). On captions L counts every
  position, the ``<eos>`` padding after a caption's end included (as Texygen's NLL does), so
  the per-token value is lower than a per-word one.
- ``bleu2``..``bleu5`` and ``self_bleu2``..``self_bleu5`` on word datasets
  (``harness.evaluate.bleu``): every sample against all test sentences, and each sample
  against the other samples; the count of samples is in the name.
"""

from __future__ import annotations

import torch

LOGITS_PER_CHUNK = 20_000_000  # sequences × length × vocabulary held at once


@torch.no_grad()
def mean_nll(model, tokens: torch.Tensor, temperature: float = 1.0) -> float:
    """Per-token negative log-likelihood of ``tokens`` under ``model`` (``log_prob``), at a
    softmax ``temperature`` when not 1 (the model whose samples were drawn at it)."""
    device = next(model.parameters()).device
    step = max(1, LOGITS_PER_CHUNK // (tokens.shape[1] * model.vocab))
    total = 0.0
    for start in range(0, len(tokens), step):
        chunk = tokens[start : start + step].to(device)
        scores = model.log_prob(chunk) if temperature == 1.0 else model.log_prob(chunk, temperature)
        total -= float(scores.double().sum())
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


def sentences(context) -> list[list[str]]:
    """The samples as word lists, cut at the first ``<eos>``. For the real-data row (no
    model) the training captions stand for the samples: real captions against the test
    captions, the ceiling the text-GAN tables are read against (the test captions themselves
    would be their own references)."""
    key = "sentences"
    if key not in context.cache:
        data = context.data
        if context.sampler is None:
            context.cache[key] = data.extra["sentences"][: len(context.samples)]
        else:
            words, eos = data.extra["words"], data.extra["eos"]
            out = []
            for row in context.samples.tolist():
                cut = row.index(eos) if eos in row else len(row)
                out.append([words[t] for t in row[:cut]])
            context.cache[key] = out
    return context.cache[key]


ORDERS = (2, 3, 4, 5)


def _bleu_scores(context, kind: str) -> dict[int, float] | None:
    from harness.evaluate.bleu import bleu, self_bleu

    if "words" not in context.data.extra:
        return None
    key = f"{kind}_scores"
    if key not in context.cache:
        hypotheses = sentences(context)
        if kind == "bleu":
            context.cache[key] = bleu(hypotheses, context.data.extra["references"], ORDERS)
        else:
            context.cache[key] = self_bleu(hypotheses, ORDERS)
    return context.cache[key]


def _metric(kind: str, order: int):
    def score(context) -> float | None:
        scores = _bleu_scores(context, kind)
        return None if scores is None else scores[order]

    score.__name__ = f"{kind}{order}"
    return score


bleu2, bleu3, bleu4, bleu5 = (_metric("bleu", n) for n in ORDERS)
self_bleu2, self_bleu3, self_bleu4, self_bleu5 = (_metric("self_bleu", n) for n in ORDERS)
