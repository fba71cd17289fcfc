"""StyleGAN's generator and recipe against the mechanism checks of the variant-zoo reference
(§5.4): the synthesis input does not depend on z, style mixing takes the second latent's w from
the crossover on, noise with zero weights changes nothing, ψ = 1 is the identity, the mapping
layers learn at the multiplier times the rate, R1 and lazy regularisation, resume."""

from pathlib import Path

import optuna
import pytest
import torch
from conftest import make_cell

from harness.data import load_dataset
from harness.evaluate.evaluator import Evaluator
from harness.runner import cache_root
from harness.study import default_storage
from harness.train.loop import Trainer
from harness.variants.nets.stylegan import StyleGenerator
from harness.variants.penalties import r1_penalty

CPU = torch.device("cpu")
DIGITS16 = {"resolution": 16}
SMALL = {"batch_size": 4, "width": 8, "latent_dim": 8}


def generator(seed: int = 0) -> StyleGenerator:
    torch.manual_seed(seed)
    G = StyleGenerator(8, 1, 16, 8, mapping_layers=2, mapping_lr=0.01)
    with torch.no_grad():  # non-zero noise scales and a moved mean w, as after training
        for layer in G.layers:
            layer.noise.weight.normal_()
        G.w_avg.normal_()
    return G


def noise_for(G: StyleGenerator, count: int, seed: int) -> list[torch.Tensor]:
    return G.draw_noise(count, 16, torch.Generator().manual_seed(seed), CPU)


def test_the_synthesis_sees_z_only_through_w():
    G = generator()
    z = torch.randn(3, 8)
    ws = G.styles(z)
    noise = noise_for(G, 3, 1)
    # Synthesis from w alone gives G's image of z; its first input is a constant.
    assert torch.equal(G.synthesis(ws, noise), G.synthesis(G.styles(z.clone()), noise))
    assert torch.equal(G.constant(3)[0], G.constant(3)[2])
    assert G.num_layers == 6 and ws.shape == (3, 6, 8)
    other = G.styles(torch.randn(3, 8))
    assert not torch.equal(G.synthesis(other, noise), G.synthesis(ws, noise))


def test_mixing_takes_the_second_latents_w_from_the_crossover_on():
    G = generator()
    first, second = G.styles(torch.randn(2, 8)), G.styles(torch.randn(2, 8))
    noise = noise_for(G, 2, 1)
    activations = {}

    def keep(index):
        return lambda module, args, out: activations.setdefault(index, []).append(out)

    for index, layer in enumerate(G.layers):
        layer.register_forward_hook(keep(index))
    cutoff = 3
    G.synthesis(first, noise)
    G.synthesis(torch.cat([first[:, :cutoff], second[:, cutoff:]], dim=1), noise)
    for index in range(G.num_layers):
        same = torch.equal(activations[index][0], activations[index][1])
        assert same == (index < cutoff), index


def test_noise_with_zero_weights_changes_nothing_and_moves_images_otherwise():
    G = generator()
    ws = G.styles(torch.randn(2, 8))
    assert not torch.equal(G.synthesis(ws, noise_for(G, 2, 1)), G.synthesis(ws, noise_for(G, 2, 2)))
    with torch.no_grad():
        for layer in G.layers:
            layer.noise.weight.zero_()
    assert torch.equal(G.synthesis(ws, noise_for(G, 2, 1)), G.synthesis(ws, noise_for(G, 2, 2)))


def test_evaluation_noise_is_a_function_of_each_latent_alone():
    G = generator()
    z = torch.randn(5, 8)
    noise, part = G.latent_noise(z, 16), G.latent_noise(z[2:4], 16)
    assert all(torch.equal(a[2:4], b) for a, b in zip(noise, part, strict=True))
    whole = G(z)
    assert torch.equal(G(z), whole)
    assert torch.allclose(G(z[2:4]), whole[2:4], atol=1e-5)  # kernels vary with batch size


def test_psi_one_is_the_identity_and_psi_zero_gives_the_mean_w_image():
    G = generator()
    z = torch.randn(3, 8)
    assert torch.equal(G(z, psi=1.0), G(z))
    at_mean = G(z, psi=0.0)
    noise = G.latent_noise(z, 16)
    mean_ws = G.w_avg.view(1, 1, -1).expand(3, G.num_layers, -1)
    assert torch.allclose(at_mean, G.synthesis(mean_ws, noise), atol=1e-6)


def test_the_faded_output_at_alpha_zero_is_the_lower_resolution_upsampled():
    G = generator()
    ws = G.styles(torch.randn(2, 8))
    noise = noise_for(G, 2, 1)
    low = G.synthesis(ws, noise, resolution=8)
    faded = G.synthesis(ws, noise, resolution=16, alpha=0.0)
    assert torch.allclose(faded, low.repeat_interleave(2, 2).repeat_interleave(2, 3), atol=1e-6)


def test_r1_is_half_the_squared_gradient_norm_at_the_reals():
    weight = torch.randn(1, 1, 4, 4)

    def D(x, labels=None):  # linear: the gradient at every input is the weight
        return (x * weight).flatten(1).sum(1)

    real = torch.randn(3, 1, 4, 4)
    assert r1_penalty(D, real, None, None, None).item() == pytest.approx(
        0.5 * weight.square().sum().item(), rel=1e-6
    )


def build(run_dir: Path, **axes):
    cell = make_cell("stylegan_digits", "digits", DIGITS16, **{**SMALL, **axes})
    data = load_dataset(cell.dataset, cell.dataset_params)
    return Trainer(cell, data, CPU, Evaluator(cell.evaluation, data, CPU), run_dir)


def test_the_recipe_mixes_at_its_probability_and_tracks_the_mean_w(tmp_path):
    trainer = build(tmp_path / "unused", budget={"g_steps": 4, "ticks": 1})
    recipe = trainer.recipe
    assert recipe.spec.style_mixing == 0.9 and recipe.schedule is None
    mapped = []
    recipe.G.mapping.register_forward_hook(lambda m, args, out: mapped.append(len(out)))
    before = recipe.G.w_avg.clone()
    for _ in range(4):
        trainer.step()
    assert not torch.equal(recipe.G.w_avg, before)
    assert torch.equal(recipe.G_ema.w_avg, recipe.G.w_avg)  # copied into the EMA
    # Two mappings per D or G step when mixing, one otherwise: mostly two at p = 0.9.
    assert len(mapped) > 8 and set(mapped) == {4}


def test_lazy_r1_runs_every_k_d_steps_with_k_times_the_weight(tmp_path):
    trainer = build(tmp_path / "unused", budget={"g_steps": 6, "ticks": 1}, reg_interval=3)
    recipe = trainer.recipe
    calls = []
    term = recipe.penalty.term
    recipe.penalty = type(recipe.penalty)(
        term=lambda *args: calls.append(recipe.steps_done) or term(*args)
    )
    for _ in range(6):
        trainer.step()
    assert calls == [0, 3]


def test_grown_stylegan_resumes_bit_identically_from_the_middle_of_a_fade(tmp_path):
    axes = {"stabilise_kimg": 0.008, "fade_kimg": 0.016}
    budget = {"g_steps": 8, "ticks": 4}
    whole = build(tmp_path / "whole", budget=budget, **axes)
    assert whole.run().status == "completed"
    first = build(tmp_path / "cut", budget=budget, **axes)
    first.total = first.ticks[1]
    first.run()
    assert first.recipe.stage() == (8, 0.5)
    resumed = build(tmp_path / "cut", budget=budget, **axes)
    resumed.resume(tmp_path / "cut" / "checkpoint.pt")
    assert resumed.run().status == "completed"
    for part in ("generator", "discriminator", "generator_ema"):
        for name, tensor in whole.recipe.state_dict()[part].items():
            assert torch.equal(tensor, resumed.recipe.state_dict()[part][name]), (part, name)


@pytest.mark.parametrize(
    "axes, message",
    [
        ({"stabilise_kimg": 5.0}, "keeps stylegan's structure fixed"),
        ({"batch_size": 6}, "minibatch-stddev groups of 4"),
        ({"conditional": True}, "unconditional"),
    ],
)
def test_settings_stylegan_cannot_train_with_are_refused(axes, message):
    with pytest.raises(ValueError, match=message):
        make_cell("stylegan_digits", "digits", DIGITS16, **axes)


@pytest.mark.parametrize("blind, expected", [("fine", 1.0), ("coarse", -1.0)])
def test_the_coarse_style_margin_reads_which_layers_decide_the_class(tmp_path, blind, expected):
    """With the fine layers blind to w (zero style weights and noise) a mixed image is its
    coarse source's image, so every mixed image takes that class: +1; blind coarse layers: −1."""
    evaluation = {"num_samples": 200, "metrics": ["coarse_style_margin"]}
    cell = make_cell("stylegan_digits", "digits", DIGITS16, **SMALL, evaluation=evaluation)
    data = load_dataset(cell.dataset, cell.dataset_params)
    evaluator = Evaluator(cell.evaluation, data, CPU, cache_root(tmp_path), cell.dataset_params)
    trainer = Trainer(cell, data, CPU, evaluator, tmp_path / "unused")
    G = trainer.recipe.G_ema
    layers = G.layers[4:] if blind == "fine" else G.layers[:4]
    with torch.no_grad():
        for layer in layers:
            layer.adain.style.weight.zero_()
            layer.noise.weight.zero_()
    if blind == "coarse":
        with torch.no_grad():  # and no noise anywhere: a mixed image is its fine source's
            for layer in G.layers:
                layer.noise.weight.zero_()
    scores = evaluator.evaluate(trainer.recipe.sampler())
    assert scores["coarse_style_margin_200_cls"] == pytest.approx(expected)


GROWING_SUITE = """
name = "growing"
seeds = [0]

[[datasets]]
name = "digits"
label = "digits16"
params = { resolution = 16 }

[[variants]]
preset = "progan_digits"
width = 8
batch_size = 4
stabilise_kimg = 0.016
fade_kimg = 0.016

[[variants]]
preset = "stylegan_digits"
width = 8
batch_size = 4
latent_dim = 8

[budget]
g_steps = 20
ticks = 2

[evaluation]
metrics = ["fid", "coarse_style_margin"]
num_samples = 200

[study]
variant = "stylegan_digits"
objective = "fid"
trials = 2

[study.space]
style_mixing = { type = "float", low = 0.0, high = 1.0 }
penalty_weight = { type = "float", low = 0.001, high = 1.0, log = true }
"""


def test_progan_and_stylegan_run_report_and_study_like_any_variant(write_suite, tmp_path):
    """Both growing variants through the generic run, leaderboard and Optuna study: the
    leaderboard ranks both with the style metric where it applies, and a study searches
    StyleGAN's own axes with no special case."""
    import io

    from harness import api

    path = str(write_suite(GROWING_SUITE))
    results, out, err = str(tmp_path / "results"), io.StringIO(), io.StringIO()
    assert api.run(path, results_dir=results, out=out, err=err, device="cpu") == 0, err.getvalue()
    reports = tmp_path / "reports"
    code = api.report(path, results_dir=results, out_dir=str(reports), figures=False, out=out)
    assert code == 0, err.getvalue()
    table = (reports / "leaderboard.csv").read_text()
    assert "progan_digits" in table and "stylegan_digits" in table
    rows = [line for line in table.splitlines() if "coarse_style_margin_200_cls" in line]
    assert rows and all("stylegan_digits" in line for line in rows)
    code = api.study(path, results_dir=results, out=out, err=err, device="cpu")
    assert code == 0, err.getvalue()

    storage = default_storage(tmp_path / "results")
    (name,) = optuna.get_all_study_names(storage)
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert len(trials) == 2 and all(t.state.name == "COMPLETE" for t in trials)
    assert {"style_mixing", "penalty_weight"} <= set(trials[0].params)


def test_a_psi_sweep_scores_truncated_samples_under_their_own_names(tmp_path):
    """evaluation.psi: at the final evaluation every metric again with w pulled towards the
    tracked mean; ψ = 0 makes every noise-free sample G(w̄) (one class), ψ = 1 is the
    untruncated run."""
    evaluation = {"num_samples": 200, "metrics": ["modes_covered", "fid"], "psi": [0.0, 0.7]}
    cell = make_cell("stylegan_digits", "digits", DIGITS16, **SMALL, evaluation=evaluation)
    data = load_dataset(cell.dataset, cell.dataset_params)
    evaluator = Evaluator(cell.evaluation, data, CPU, cache_root(tmp_path), cell.dataset_params)
    trainer = Trainer(cell, data, CPU, evaluator, tmp_path / "unused")
    for _ in range(4):  # move the tracked mean w off zero
        trainer.step()
    with torch.no_grad():  # without noise, ψ = 0 leaves nothing of the latent in an image
        for layer in trainer.recipe.G_ema.layers:
            layer.noise.weight.zero_()
    scores = evaluator.evaluate(trainer.recipe.sampler(), final=True)
    assert {"fid_200_cls_psi0", "fid_200_cls_psi0.7", "modes_covered_200_cls_psi0"} <= set(scores)
    assert scores["modes_covered_200_cls_psi0"] == 1  # every sample is the mean w's image
    assert scores["modes_covered_200_cls"] >= scores["modes_covered_200_cls_psi0.7"]
    assert evaluator.describe()["eval.psi"] == "0,0.7"
    plain = evaluator.evaluate(trainer.recipe.sampler(), final=False)
    assert plain["fid_200_cls"] == scores["fid_200_cls"] and "fid_200_cls_psi0" not in plain


def test_psi_in_a_suite_without_stylegan_is_refused():
    with pytest.raises(ValueError, match="evaluation.psi: truncation in W applies to style"):
        make_cell("dcgan", "digits", evaluation={"num_samples": 200, "psi": [0.7]})
