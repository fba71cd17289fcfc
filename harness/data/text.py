"""Text for the sequence modality: a deterministic offline tokenizer and caption files.

Tokens are NLTK's ``NLTKWordTokenizer`` (the Treebank rules ``nltk.word_tokenize`` applies
within a sentence; it needs no downloaded model) of the lower-cased line, as text-GAN papers
tokenise Image COCO captions; ``TOKENIZER`` names it with NLTK's version for the run's tags.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def _tokenizer():
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def tokenizer_name() -> str:
    import nltk

    return f"nltk {nltk.__version__} NLTKWordTokenizer, lower case"


def tokenize(line: str) -> list[str]:
    return _tokenizer().tokenize(line.lower())


def read_sentences(path: str | Path) -> list[list[str]]:
    """One tokenised sentence per non-empty line of a UTF-8 file."""
    text = Path(path).expanduser().read_text(encoding="utf-8")
    return [tokenize(line) for line in text.splitlines() if line.strip()]


EOS = "<eos>"


PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding harness/


def caption_root(params) -> Path:
    """``root`` as given, or (a relative path not found from the current folder) relative to
    the project's checkout, so the default ``../shared/data/coco-captions`` is found from
    wherever ``ganbench`` runs."""
    root = Path(params.root).expanduser()
    if root.is_absolute() or root.is_dir():
        return root
    beside = PROJECT_ROOT / root
    return beside if beside.is_dir() else root


def caption_missing(params) -> str | None:
    root = caption_root(params)
    for name in ("train.txt", "test.txt"):
        if not (root / name).is_file():
            where = str(root)
            if not Path(params.root).expanduser().is_absolute():
                where += f" (relative to the current folder or to {PROJECT_ROOT})"
            return f"no {name} under {where}: the Image COCO captions, train.txt and test.txt"
    return None


def coco_captions(params):
    """Texygen's Image COCO captions (10,000 training and 10,000 test lines), tokenised
    (``tokenize``); the vocabulary is every word of both files, most frequent in training
    first (ties alphabetical), then ``<eos>``, which pads every sequence to the longest
    training caption (Texygen's sequence length: 37 tokens). The raw tokenised test captions
    are BLEU's references; no validation split (the best checkpoint is not chosen here)."""
    from collections import Counter

    import torch

    from harness.data import DatasetInfo, LoadedData

    missing = caption_missing(params)
    if missing:
        raise FileNotFoundError(f"coco_captions: {missing}")
    root = caption_root(params)
    train, test = read_sentences(root / "train.txt"), read_sentences(root / "test.txt")
    counts = Counter(word for sentence in train for word in sentence)
    unseen = {word for sentence in test for word in sentence} - set(counts)
    words = sorted(counts, key=lambda w: (-counts[w], w)) + sorted(unseen) + [EOS]
    index = {word: i for i, word in enumerate(words)}
    length = max(map(len, train))

    def encode(sentences):
        out = torch.full((len(sentences), length), index[EOS], dtype=torch.long)
        for row, sentence in enumerate(sentences):
            ids = [index[w] for w in sentence[:length]]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    train_x, test_x = encode(train), encode(test)
    info = DatasetInfo("coco_captions", "sequences", (length,), 1, vocab_size=len(words))
    zeros = torch.zeros
    data = LoadedData(
        train_x,
        zeros(len(train), dtype=torch.long),
        test_x,
        zeros(len(test), dtype=torch.long),
        info,
    )
    data.extra |= {"words": words, "eos": index[EOS], "references": test, "sentences": train}
    return data
