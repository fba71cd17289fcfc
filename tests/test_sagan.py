"""SAGAN's mechanisms (reference: variant-zoo §2.4): the γ-gated self-attention block, spectral
norm in G and D, the TTUR preset, and γ moving away from 0 once trained."""

import io

import pytest
import torch
from conftest import make_cell, suite_text
from torch import nn

from harness import api
from harness.data import load_dataset
from harness.evaluate.evaluator import Evaluator
from harness.train.loop import Trainer
from harness.variants.nets.resnet import SelfAttention

CPU = torch.device("cpu")
DIGITS16 = {"resolution": 16}


def test_attention_with_gamma_0_is_exactly_the_identity_and_rows_sum_to_1():
    torch.manual_seed(0)
    block = SelfAttention(16)
    x = torch.randn(3, 16, 8, 8)
    out = block(x)
    assert out.shape == x.shape and torch.equal(out, x)
    rows = block.attention_map(x)
    assert rows.shape == (3, 64, 16)  # 8×8 queries over 4×4 pooled keys
    assert torch.allclose(rows.sum(-1), torch.ones(3, 64))
    out.square().mean().backward()
    assert block.gamma.grad is not None and block.gamma.grad != 0
    with torch.no_grad():
        block.gamma.fill_(0.5)
    assert not torch.equal(block(x), x)  # the attention path is live once γ moves


def build(cell, tmp_path):
    data = load_dataset(cell.dataset, cell.dataset_params)
    return Trainer(cell, data, CPU, Evaluator(cell.evaluation, data, CPU), tmp_path)


@pytest.mark.parametrize("conditional", [False, True])
def test_sagan_has_attention_and_spectral_norm_in_g_and_d_and_gamma_moves(conditional, tmp_path):
    cell = make_cell("sagan", "digits", DIGITS16, width=16, batch_size=16, conditional=conditional)
    trainer = build(cell, tmp_path)
    G, D = trainer.recipe.G, trainer.recipe.D
    for net in (G, D):
        attention = [m for m in net.modules() if isinstance(m, SelfAttention)]
        assert len(attention) == 1 and float(attention[0].gamma.detach()) == 0.0
        weighted = [m for m in net.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
        assert weighted and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in weighted)
    if conditional:  # class-conditional BN in G, projection in D
        assert any(type(m).__name__ == "ConditionalBatchNorm" and m.gains for m in G.modules())
        assert D.project is not None
    for _ in range(3):
        stats = trainer.step()
    assert all(torch.isfinite(v) for v in stats.values())
    for net in (G, D):
        gamma = next(m for m in net.modules() if isinstance(m, SelfAttention)).gamma
        assert float(gamma.detach()) != 0.0
    # The spectral norm of every wrapped weight stays about 1 (power iteration).
    for module in [m for m in D.modules() if isinstance(m, nn.Conv2d)][:3]:
        sigma = torch.linalg.matrix_norm(module.weight.detach().flatten(1), ord=2)
        assert 0.8 < float(sigma) < 1.2


def test_sagan_presets_are_the_paper_and_studiogan_recipes():
    paper = make_cell("sagan", "digits", DIGITS16).variant
    assert paper.d_opt.lr / paper.g_opt.lr == 4 and paper.d_steps == 1
    assert paper.loss == "hinge" and paper.g_spectral and paper.normalization == "spectral"
    studio = make_cell("sagan_studiogan", "digits", {"resolution": 32}).variant
    assert studio.d_opt.lr == studio.g_opt.lr == 2e-4 and studio.d_steps == 5
    assert studio.g_opt.betas == (0.5, 0.999) and (studio.width, studio.d_width) == (256, 128)
    assert studio.attention == 16


@pytest.mark.parametrize(
    "variant,dataset,fragments",
    [
        ('preset = "sagan"', "", ["attention 8", "at 8 px", "allowed: 0 (none)"]),
        (
            'preset = "dcgan"\nattention = 8',
            "params = { resolution = 16 }",
            ["attention is implemented by the resnet architecture", "not 'dcgan'"],
        ),
        ('preset = "sagan"', "params = { resolution = 28 }", ["supports 8, 16, 32 px, not 28"]),
        (
            'preset = "biggan"\nlatent_dim = 100',
            "params = { resolution = 16 }",
            ["hierarchical_z splits latent_dim 100 into 3 equal chunks", "divisible by 3"],
        ),
    ],
)
def test_sagan_misfits_are_one_line_errors(variant, dataset, fragments, write_suite, tmp_path):
    text = suite_text(
        datasets=f'[[datasets]]\nname = "digits"\n{dataset}\n',
        variants=f"[[variants]]\n{variant}\n",
    )
    path = write_suite(text)
    err = io.StringIO()
    code = api.validate(str(path), out=io.StringIO(), err=err)
    message = err.getvalue()
    assert code == 2 and message.count("\n") == 1, message
    for fragment in fragments:
        assert fragment in message, message
