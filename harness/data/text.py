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
