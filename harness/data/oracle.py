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
"""

from __future__ import annotations

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


def oracle_lstm(params: OracleParams) -> LoadedData:
    oracle = build_oracle(params)
    train = _draw(oracle, params.size, derive_seed(params.seed, "train"))
    test = _draw(oracle, params.test_size, derive_seed(params.seed, "test"))
    validation = _draw(oracle, params.validation_size, derive_seed(params.seed, "validation"))
    info = DatasetInfo("oracle_lstm", "sequences", (params.length,), 1, vocab_size=params.vocab)
    zeros = torch.zeros
    data = LoadedData(
        train, zeros(len(train), dtype=torch.long), test, zeros(len(test), dtype=torch.long), info
    )
    data.extra |= {"oracle": oracle, "validation": validation}
    return data
