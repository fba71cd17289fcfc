"""BLEU and Self-BLEU as text-GAN papers report them, exact and fast.

The protocol (Texygen's, which the text-GAN tables use): NLTK's ``sentence_bleu`` of every
hypothesis against **all** reference sentences at once, uniform weights (BLEU-n: 1/n on
orders 1..n), ``SmoothingFunction().method1`` (a precision whose numerator is 0 becomes
0.1 / its denominator), the brevity penalty against the closest reference length (ties to the
shorter), 0 when no unigram matches; averaged over hypotheses. Self-BLEU: every sentence of a
sample against all the **other** sentences of the same sample (leave one out; Texygen's own
code counts each sentence among its references, which makes every score 1).

Fast and exact: NLTK clips each hypothesis n-gram's count by its largest count in any
reference, a maximum that does not depend on the hypothesis; so the pool keeps, per n-gram,
that maximum (for Self-BLEU also its owner and the second largest, used for the owner's own
hypothesis), and the distinct reference lengths. A hypothesis then costs a few dictionary
lookups per token, and the arithmetic follows NLTK's step for step (``math.fsum`` of
w·log p, then the brevity penalty), so scores equal ``sentence_bleu``'s to rounding.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Sequence

EPSILON = 0.1  # NLTK's SmoothingFunction().method1
ORDERS = (2, 3, 4, 5)


def _ngrams(tokens: Sequence[str], n: int) -> Counter:
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def _closest(lengths: list[int], length: int, skip: int | None = None) -> int:
    """The reference length closest to ``length``, ties to the shorter (NLTK's rule), among
    the sorted distinct ``lengths`` without ``skip``."""
    at = bisect.bisect_left(lengths, length)
    candidates = [
        lengths[i] for i in range(max(0, at - 2), min(len(lengths), at + 2)) if lengths[i] != skip
    ]
    if not candidates:  # every close length skipped: search all (rare, tiny pools)
        candidates = [x for x in lengths if x != skip]
    return min(candidates, key=lambda ref: (abs(ref - length), ref))


def _score(precisions: list[tuple[int, int]], length: int, closest: int, order: int) -> float:
    """BLEU-``order`` from (clipped matches, hypothesis n-grams) per order, NLTK's way."""
    if precisions[0][0] == 0:
        return 0.0
    if length > closest:
        penalty = 1.0
    elif length == 0:
        penalty = 0.0
    else:
        penalty = math.exp(1 - closest / length)
    weight = 1 / order
    logs = []
    for matches, total in precisions[:order]:
        denominator = max(1, total)
        value = matches / denominator if matches else EPSILON / denominator
        logs.append(weight * math.log(value))
    return penalty * math.exp(math.fsum(logs))


class ReferencePool:
    """The references' largest count of every n-gram up to ``max_order`` and their lengths;
    ``sentence_bleu`` scores one hypothesis against all of them."""

    def __init__(self, references: Iterable[Sequence[str]], max_order: int = max(ORDERS)):
        self.max_order = max_order
        self.best: list[dict] = [{} for _ in range(max_order)]
        lengths = set()
        for reference in references:
            lengths.add(len(reference))
            for n in range(1, max_order + 1):
                best = self.best[n - 1]
                for gram, count in _ngrams(reference, n).items():
                    if count > best.get(gram, 0):
                        best[gram] = count
        if not lengths:
            raise ValueError("BLEU needs at least one reference sentence")
        self.lengths = sorted(lengths)

    def _precisions(self, hypothesis: Sequence[str]) -> list[tuple[int, int]]:
        out = []
        for n in range(1, self.max_order + 1):
            best, grams = self.best[n - 1], _ngrams(hypothesis, n)
            matches = sum(min(count, best.get(gram, 0)) for gram, count in grams.items())
            out.append((matches, sum(grams.values())))
        return out

    def sentence_bleu(
        self, hypothesis: Sequence[str], orders: Sequence[int] = ORDERS
    ) -> dict[int, float]:
        precisions = self._precisions(hypothesis)
        closest = _closest(self.lengths, len(hypothesis))
        return {n: _score(precisions, len(hypothesis), closest, n) for n in orders}


def _check_orders(orders: Sequence[int]) -> None:
    if not orders or min(orders) < 1:
        raise ValueError(f"BLEU orders must be 1 or more, not {list(orders)}")


def bleu(
    hypotheses: Sequence[Sequence[str]],
    references: Iterable[Sequence[str]],
    orders: Sequence[int] = ORDERS,
) -> dict[int, float]:
    """Mean BLEU-n (n in ``orders``) of the hypotheses, each against every reference."""
    if not hypotheses:
        raise ValueError("BLEU needs at least one hypothesis")
    _check_orders(orders)
    pool = ReferencePool(references, max(orders))
    totals = dict.fromkeys(orders, 0.0)
    for hypothesis in hypotheses:
        for n, value in pool.sentence_bleu(hypothesis, orders).items():
            totals[n] += value
    return {n: total / len(hypotheses) for n, total in totals.items()}


class SelfPool:
    """Every n-gram's largest count over the sentences, which sentence holds it, and the
    second largest: the pool of all sentences but one, for each one, in one pass."""

    def __init__(self, sentences: Sequence[Sequence[str]], max_order: int = max(ORDERS)):
        if len(sentences) < 2:
            raise ValueError("Self-BLEU needs at least two sentences")
        self.max_order = max_order
        self.first: list[dict] = [{} for _ in range(max_order)]  # gram -> (count, owner)
        self.second: list[dict] = [{} for _ in range(max_order)]  # gram -> count
        for index, sentence in enumerate(sentences):
            for n in range(1, max_order + 1):
                first, second = self.first[n - 1], self.second[n - 1]
                for gram, count in _ngrams(sentence, n).items():
                    top = first.get(gram)
                    if top is None or count > top[0]:
                        if top is not None:
                            second[gram] = top[0]
                        first[gram] = (count, index)
                    elif count > second.get(gram, 0):
                        second[gram] = count
        self.length_counts = Counter(len(s) for s in sentences)
        self.lengths = sorted(self.length_counts)

    def sentence_bleu(
        self, index: int, sentence: Sequence[str], orders: Sequence[int] = ORDERS
    ) -> dict[int, float]:
        precisions = []
        for n in range(1, self.max_order + 1):
            first, second = self.first[n - 1], self.second[n - 1]
            grams = _ngrams(sentence, n)
            matches = 0
            for gram, count in grams.items():
                top, owner = first[gram]
                others = second.get(gram, 0) if owner == index else top
                matches += min(count, others)
            precisions.append((matches, sum(grams.values())))
        length = len(sentence)
        skip = length if self.length_counts[length] == 1 else None
        closest = _closest(self.lengths, length, skip)
        return {n: _score(precisions, length, closest, n) for n in orders}


def self_bleu(
    sentences: Sequence[Sequence[str]], orders: Sequence[int] = ORDERS
) -> dict[int, float]:
    """Mean leave-one-out Self-BLEU-n: each sentence against all the others."""
    _check_orders(orders)
    pool = SelfPool(sentences, max(orders))
    totals = dict.fromkeys(orders, 0.0)
    for index, sentence in enumerate(sentences):
        for n, value in pool.sentence_bleu(index, sentence, orders).items():
            totals[n] += value
    return {n: total / len(sentences) for n, total in totals.items()}
