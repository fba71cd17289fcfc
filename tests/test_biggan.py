"""BigGAN's mechanisms (reference: variant-zoo §3.4): hierarchical z, the shared class
embedding, orthogonal regularisation and initialisation, truncation, EMA."""

import os
from pathlib import Path

import pytest
import torch
from conftest import make_cell
from torch import nn

from harness.data import load_dataset
from harness.evaluate.evaluator import Evaluator
from harness.recipes.base import Sampler, truncate
from harness.train.loop import Trainer
from harness.variants.regularizers import orthogonal_init, orthogonal_penalty, raw_weight

CPU = torch.device("cpu")
DIGITS16 = {"resolution": 16}


def build(tmp_path, **axes):
    cell = make_cell("biggan", "digits", DIGITS16, width=16, batch_size=16, **axes)
    data = load_dataset(cell.dataset, cell.dataset_params)
    return Trainer(cell, data, CPU, Evaluator(cell.evaluation, data, CPU), tmp_path)


def test_each_block_sees_only_its_own_chunk_of_z(tmp_path):
    G = build(tmp_path).recipe.G
    chunk = G.chunk
    assert chunk == 120 // 3  # 2 blocks at 16 px, plus the stem
    z = torch.randn(4, 120, requires_grad=True)
    labels = torch.tensor([0, 3, 5, 9])
    stem, conds = G.block_inputs(z, labels)
    (grad,) = torch.autograd.grad(stem.sum(), z)
    assert grad[:, chunk:].abs().sum() == 0 and grad[:, :chunk].abs().sum() > 0
    for k, cond in enumerate(conds):
        (grad,) = torch.autograd.grad(cond.sum(), z)
        own = slice((k + 1) * chunk, (k + 2) * chunk)
        outside = torch.ones(120, dtype=torch.bool)
        outside[own] = False
        assert grad[:, outside].abs().sum() == 0 and grad[:, own].abs().sum() > 0
    G.eval()
    changed = z.detach().clone()
    changed[:, chunk : 2 * chunk] += 1.0
    assert not torch.allclose(G(z.detach(), labels), G(changed, labels))


def test_one_shared_embedding_feeds_every_block_and_learns(tmp_path):
    trainer = build(tmp_path)
    G = trainer.recipe.G
    embeddings = [m for m in G.modules() if isinstance(m, nn.Embedding)]
    assert len(embeddings) == 1 and embeddings[0] is G.shared[0]  # no per-block embeddings
    before = embeddings[0].weight.detach().clone()
    trainer.step()
    assert not torch.equal(before, embeddings[0].weight.detach())


def test_orthogonal_penalty_is_zero_for_orthonormal_rows_and_skips_embeddings():
    net = nn.Sequential(nn.Linear(8, 4), nn.Embedding(10, 8))
    orthogonal_init(net)
    assert float(orthogonal_penalty(net).detach()) == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        net[1].weight.normal_()  # an embedding: never penalised
    assert float(orthogonal_penalty(net).detach()) == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        net[0].weight.normal_()
    w = net[0].weight.detach()
    expected = ((w @ w.t()) * (1 - torch.eye(4))).square().sum()
    assert float(orthogonal_penalty(net).detach()) == pytest.approx(float(expected), rel=1e-6)


def test_the_orthogonal_term_is_nonzero_in_training_and_lowers_off_diagonal_gram(tmp_path):
    trainer = build(tmp_path, init="default")  # start away from orthogonal
    stats = trainer.step()
    assert float(stats["ortho"]) > 0
    G = trainer.recipe.G
    conv = next(m for m in G.modules() if isinstance(m, nn.Conv2d))

    def off_diagonal(weight):
        w = weight.detach().flatten(1)
        return float(((w @ w.t()) * (1 - torch.eye(len(w)))).norm())

    before = off_diagonal(raw_weight(conv))
    optimizer = torch.optim.SGD(G.parameters(), lr=1e-3)
    for _ in range(20):  # the regulariser alone
        optimizer.zero_grad()
        orthogonal_penalty(G).backward()
        optimizer.step()
    assert off_diagonal(raw_weight(conv)) < before


def test_orthogonal_init_makes_rows_orthonormal(tmp_path):
    G = build(tmp_path).recipe.G
    conv = next(m for m in G.modules() if isinstance(m, nn.Conv2d))
    w = raw_weight(conv).detach().flatten(1)
    rows = min(w.shape)
    gram = (w @ w.t()) if w.shape[0] <= w.shape[1] else (w.t() @ w)
    assert torch.allclose(gram, torch.eye(rows), atol=1e-5)


@pytest.mark.parametrize("threshold", [0.05, 0.5, 2.0])
def test_truncated_latents_follow_the_truncated_normal(threshold):
    import math

    generator = torch.Generator().manual_seed(1)
    z = truncate(torch.randn(200_000, generator=generator), threshold, generator)
    assert z.abs().max() <= threshold
    density = math.exp(-(threshold**2) / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(threshold / math.sqrt(2))
    variance = 1 - 2 * threshold * density / mass  # closed form of the truncated normal
    assert float(z.var()) == pytest.approx(variance, rel=0.02)
    assert abs(float(z.mean())) < 0.01 * max(threshold, 0.1)


def test_truncation_bounds_latents_and_shrinks_sample_spread(tmp_path):
    generator = torch.Generator().manual_seed(0)
    z = truncate(torch.randn(500, 16, generator=generator), 0.5, generator)
    assert z.abs().max() <= 0.5
    trainer = build(tmp_path)
    for _ in range(3):
        trainer.step()
    sampler = trainer.recipe.sampler()
    assert sampler.module is trainer.recipe.G_ema  # evaluation uses the EMA copy
    spreads = {}
    for threshold in (0.05, 2.0):
        samples, labels = trainer.evaluator.generate(sampler, 400, truncation=threshold)
        one_class = samples[labels == labels[0]].flatten(1)
        spreads[threshold] = float(torch.pdist(one_class).mean())
    assert spreads[0.05] < 0.2 * spreads[2.0]


def test_a_truncation_sweep_is_scored_under_its_own_names(tmp_path):
    cell = make_cell(
        "biggan",
        "digits",
        DIGITS16,
        width=16,
        batch_size=16,
        evaluation={"num_samples": 100, "metrics": ["modes_covered"], "truncation": [0.5, 1]},
    )
    data = load_dataset(cell.dataset, cell.dataset_params)
    cache = Path(os.environ["GANBENCH_CACHE"])  # the session's classifier, trained once
    evaluator = Evaluator(cell.evaluation, data, CPU, cache, cell.dataset_params)
    trainer = Trainer(cell, data, CPU, evaluator, tmp_path)
    scores = evaluator.evaluate(trainer.recipe.sampler(), final=True)
    assert {"modes_covered_100_cls", "modes_covered_100_cls_trunc0.5"} <= set(scores)
    assert "modes_covered_100_cls_trunc1" in scores
    assert "eval.truncation" in evaluator.describe()
    assert evaluator.evaluate(trainer.recipe.sampler(), final=False).keys() == {
        "modes_covered_100_cls",
        "eval_reference_cached",
        "eval_seconds",
    }


def test_ema_is_the_closed_form_running_average(tmp_path):
    trainer = build(tmp_path)
    recipe = trainer.recipe
    decay = trainer.cell.variant.ema
    expected = [p.detach().clone() for p in recipe.G_ema.parameters()]
    for _ in range(3):
        trainer.step()
        expected = [
            e * decay + p.detach() * (1 - decay)
            for e, p in zip(expected, recipe.G.parameters(), strict=True)
        ]
    for e, p in zip(expected, recipe.G_ema.parameters(), strict=True):
        assert torch.allclose(e, p.detach(), atol=1e-6)
    assert isinstance(recipe.sampler(), Sampler) and recipe.sampler().module is recipe.G_ema
