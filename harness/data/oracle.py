"""SeqGAN's synthetic-oracle benchmark (Yu et al. 2017, §5.1): a randomly initialised LSTM
language model is the true distribution; models train on its samples and are scored by its
likelihood of theirs (NLL-oracle).

The oracle is ``harness.variants.nets.sequence.LSTMModel`` with every parameter drawn from
N(0, 1) (SeqGAN's paper and saved parameters; TextGAN-PyTorch's oracle) from the dataset's
``seed``; it draws ``size`` training sequences, ``test_size`` held-out sequences (NLL-test is
measured there, never on the training set as Texygen does) and ``validation_size`` more for
choosing the best checkpoint, each from a stream of its own. Its entropy rate, the per-token
NLL-oracle of its own held-out samples, is the floor every model is read against (the
real-data row).

``texygen_compat`` draws the LSTM's gate weights and biases with std 10⁶ as Texygen's
``OracleLstm`` does (its embedding and output layer N(0, 1)), the oracle behind Texygen's
NLL-oracle tables (≈ 9.6–10.8 at V = 5,000, not comparable with SeqGAN's ≈ 7–9); the
distribution is Texygen's, the draws are not (they were TensorFlow's), so its tables are
matched in kind, not to the digit.

With a cache folder (the run's ``<results>/cache/datasets``) the oracle's parameters and its
three sample sets are kept in one file named by a hash of the dataset's version and
parameters (drawing them takes about a minute at SeqGAN's V = 5,000); a file is reused only
when its oracle equals the one the parameters build now, so a changed random stream cannot
pair new weights with old samples. The file's SHA-256 is the run's ``data.sha256`` tag.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import torch

from harness.data import DatasetInfo, LoadedData, OracleParams
from harness.train.seeding import derive_seed
from harness.variants.nets.sequence import LSTMModel, normal_init

CHUNK = 2000


@torch.no_grad()
def _draw(oracle: LSTMModel, count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    uniforms = torch.rand(count, oracle.length, generator=generator)
    return torch.cat([oracle.sample(uniforms[i : i + CHUNK]) for i in range(0, count, CHUNK)])


TEXYGEN_GATE_STD = 1e6  # Texygen's OracleLstm: tf.random_normal(shape, 0.0, 1000000.0)


def build_oracle(params: OracleParams) -> LSTMModel:
    generator = torch.Generator().manual_seed(derive_seed(params.seed, "oracle"))
    oracle = LSTMModel(params.vocab, params.length, params.embedding, params.hidden)
    normal_init(oracle, 1.0, generator)
    if params.texygen_compat:  # the gates' weights and biases, saturating every gate
        with torch.no_grad():
            for parameter in oracle.lstm.parameters():
                parameter.mul_(TEXYGEN_GATE_STD)
    return oracle.eval().requires_grad_(False)


SPLITS = ("train", "test", "validation")


def _sizes(params: OracleParams) -> dict[str, int]:
    return {"train": params.size, "test": params.test_size, "validation": params.validation_size}


def _cache_key(params: OracleParams) -> str:
    from harness.data import DATASETS

    identity = {
        "dataset": "oracle_lstm",
        "version": DATASETS.meta("oracle_lstm").get("version", 1),
        "params": params.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _read_cache(path: Path, oracle: LSTMModel, params: OracleParams) -> dict | None:
    """The cached sample sets, or None when the file is missing, unreadable or not this
    oracle's (then it is drawn again and rewritten)."""
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        weights = oracle.state_dict()
        if stored["oracle"].keys() != weights.keys() or not all(
            torch.equal(stored["oracle"][name], weights[name]) for name in weights
        ):
            return None
        samples = {split: stored[split] for split in SPLITS}
        sizes = _sizes(params)
        if any(samples[s].shape != (sizes[s], params.length) for s in SPLITS):
            return None
        return samples
    except (OSError, RuntimeError, KeyError, EOFError, TypeError, AttributeError):
        return None


def _write_cache(path: Path, oracle: LSTMModel, samples: dict) -> None:
    """Written whole under a temporary name, then renamed: a reader never sees half a file.
    Serialised in memory first, so the bytes (and the digest) do not depend on the file name."""
    buffer = io.BytesIO()
    torch.save({"oracle": oracle.state_dict(), **samples}, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(buffer.getvalue())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def oracle_lstm(params: OracleParams, cache_dir: Path | None = None) -> LoadedData:
    oracle = build_oracle(params)
    path = None if cache_dir is None else Path(cache_dir) / f"oracle_lstm-{_cache_key(params)}.pt"
    samples = None if path is None else _read_cache(path, oracle, params)
    if samples is None:
        sizes = _sizes(params)
        samples = {s: _draw(oracle, sizes[s], derive_seed(params.seed, s)) for s in SPLITS}
        if path is not None:
            try:
                _write_cache(path, oracle, samples)
            except OSError:  # a read-only or full cache costs the next run a redraw, nothing more
                path = None
    train, test, validation = (samples[s] for s in SPLITS)
    info = DatasetInfo("oracle_lstm", "sequences", (params.length,), 1, vocab_size=params.vocab)
    zeros = torch.zeros
    data = LoadedData(
        train, zeros(len(train), dtype=torch.long), test, zeros(len(test), dtype=torch.long), info
    )
    data.extra |= {"oracle": oracle, "validation": validation}
    if path is not None:
        data.extra["digest"] = _digest(path)
    return data
