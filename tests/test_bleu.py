"""BLEU and Self-BLEU (text-gans reference §3): equal to NLTK's sentence BLEU with smoothing
method 1, leave-one-out Self-BLEU, and the real-vs-real COCO row the reference measured."""

import os
import random
from pathlib import Path

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from harness.data.text import read_sentences, tokenize
from harness.evaluate.bleu import ReferencePool, SelfPool, bleu, self_bleu

WEIGHTS = [(1 / n,) * n for n in (2, 3, 4, 5)]
METHOD1 = SmoothingFunction().method1
COCO = Path(
    os.environ.get(
        "GANBENCH_COCO", Path(__file__).resolve().parents[2] / "shared/data/coco-captions"
    )
)


def sample(count: int, seed: int, vocabulary: int = 30) -> list[list[str]]:
    """Sentences of 0–14 tokens over a small vocabulary, so n-grams repeat and clip."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocabulary)]
    return [[rng.choice(words) for _ in range(rng.randint(0, 14))] for _ in range(count)]


def nltk_scores(references, hypothesis) -> list[float]:
    return sentence_bleu(references, hypothesis, WEIGHTS, smoothing_function=METHOD1)


def test_bleu_equals_nltks_sentence_bleu_with_method1():
    references = sample(300, 0)
    hypotheses = sample(40, 1) + [["w1", "w2"], ["w3"], [], ["unseen", "words"]]
    pool = ReferencePool(references)
    for hypothesis in hypotheses:
        ours = pool.sentence_bleu(hypothesis)
        for expected, n in zip(nltk_scores(references, hypothesis), (2, 3, 4, 5), strict=True):
            assert ours[n] == pytest.approx(expected, abs=1e-12), (hypothesis, n)
    means = bleu(hypotheses, references)
    by_nltk = [nltk_scores(references, h) for h in hypotheses]
    for index, n in enumerate((2, 3, 4, 5)):
        expected = sum(s[index] for s in by_nltk) / len(hypotheses)
        assert means[n] == pytest.approx(expected, abs=1e-12)


def test_self_bleu_leaves_each_sentence_out_of_its_own_references():
    sentences = sample(120, 2, vocabulary=12)
    sentences[5] = sentences[9] = ["w1", "w1", "w2"]  # a tie for the largest count
    pool = SelfPool(sentences)
    for index in range(0, len(sentences), 3):
        others = sentences[:index] + sentences[index + 1 :]
        ours = pool.sentence_bleu(index, sentences[index])
        for expected, n in zip(nltk_scores(others, sentences[index]), (2, 3, 4, 5), strict=True):
            assert ours[n] == pytest.approx(expected, abs=1e-12), (index, n)


def test_self_bleu_is_one_for_identical_sentences_and_zero_for_disjoint_vocabularies():
    same = [["a", "cat", "sits", "on", "the", "mat"]] * 5
    assert self_bleu(same) == pytest.approx({2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0})
    disjoint = [[f"s{i}w{j}" for j in range(6)] for i in range(5)]
    assert self_bleu(disjoint) == {2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0}


def test_bad_requests_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="at least two sentences"):
        self_bleu([["one"]])
    with pytest.raises(ValueError, match="at least one reference"):
        bleu([["a"]], [])
    with pytest.raises(ValueError, match="1 or more"):
        bleu([["a"]], [["a"]], orders=(0, 2))


def test_the_tokenizer_lowercases_and_splits_punctuation_offline():
    assert tokenize("A Man, riding a wheel. Outside.") == [
        "a", "man", ",", "riding", "a", "wheel.", "outside", ".",
    ]  # fmt: skip


@pytest.mark.skipif(not (COCO / "train.txt").is_file(), reason=f"no COCO captions at {COCO}")
def test_real_coco_captions_against_the_test_captions_give_the_published_bleu():
    """The reference's real-vs-real row (§5.4): 0.740 / 0.520 / 0.337 / 0.218."""
    train, test = read_sentences(COCO / "train.txt"), read_sentences(COCO / "test.txt")
    scores = bleu(train, test)
    for n, expected in zip((2, 3, 4, 5), (0.740, 0.520, 0.337, 0.218), strict=True):
        assert scores[n] == pytest.approx(expected, abs=0.005), n
