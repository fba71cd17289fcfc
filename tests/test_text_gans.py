"""RankGAN, LeakGAN and TextGAN (text-gans reference §4.3–4.5): their defining mechanisms,
and every text GAN's phases on one budget with a bit-identical resume in the adversarial
phase."""

from pathlib import Path

import pytest
import torch
from conftest import make_cell, training_values

from harness.data import load_dataset
from harness.evaluate.evaluator import Evaluator
from harness.train.loop import Trainer
from harness.variants.nets.sequence import TextCNN

CPU = torch.device("cpu")
SMALL = {"vocab": 40, "length": 8, "size": 2000, "test_size": 1000, "validation_size": 500}
TEXT_GANS = ("seqgan", "rankgan", "leakgan", "textgan")


def test_rankgans_score_is_a_softmax_over_cosines_to_the_reference_set():
    """R(s | U, C) = mean over u of exp(γ cos(s, u)) / Σ_{s' ∈ C ∪ {s}} exp(γ cos(s', u))."""
    from harness.recipes.rankgan import ranking_scores

    torch.manual_seed(0)
    candidates, comparison, references = torch.randn(3, 5), torch.randn(4, 5), torch.randn(6, 5)
    gamma = 2.5
    expected = []
    for s in candidates:
        per_reference = []
        for u in references:
            cos = [torch.nn.functional.cosine_similarity(x, u, dim=0) for x in [s, *comparison]]
            weights = torch.exp(gamma * torch.stack(cos))
            per_reference.append(weights[0] / weights.sum())
        expected.append(torch.stack(per_reference).mean())
    scores = ranking_scores(candidates, comparison, references, gamma)
    assert torch.allclose(scores, torch.stack(expected), atol=1e-6)
    # the same direction as a reference scores higher than its opposite
    closer = ranking_scores(references[:1] * 3, comparison, references[:1], gamma)
    farther = ranking_scores(-references[:1], comparison, references[:1], gamma)
    assert closer > farther


def test_leakgans_manager_sees_ds_features_of_the_prefix():
    from harness.variants.nets.leakgan import LeakedPolicy, LeakGANGenerator

    torch.manual_seed(0)
    D = TextCNN(12, 6, widths=(2, 3), maps=(4, 4)).eval()
    G = LeakGANGenerator(12, 6, 5, 7, features=8, goal_size=3, step_size=2)
    policy = LeakedPolicy(G, D)
    seen = []
    manager = G.manager.forward

    def spy(feature, state=None):
        seen.append(feature)
        return manager(feature, state)

    G.manager.forward = spy
    leaked = []

    def leak(tokens):
        leaked.append(tokens.clone())
        return policy.leak(tokens)

    prefix = torch.randint(12, (4, 2))
    tokens, log_probs, goals, features = G.unroll(leak, prefix, torch.rand(4, 4), pad=12)
    assert torch.equal(tokens[:, :2], prefix) and tokens.shape == (4, 6)
    assert log_probs.shape == (4, 6) and goals.shape == (4, 6, 8) and features.shape == (4, 7, 8)
    assert len(seen) == 6
    read = torch.cat(leaked)  # D reads only padded prefixes of the sentence
    for t in range(7):
        padded = torch.cat([tokens[:, :t], torch.full((4, 6 - t), 12)], dim=1)
        assert any(torch.equal(padded, read[i : i + 4]) for i in range(0, len(read), 4)), t
        assert torch.allclose(features[:, t], D.features(padded), atol=1e-6)
        if t < 6:  # step t: the manager's input is D's features of the first t tokens
            assert torch.allclose(seen[t], D.features(padded), atol=1e-6)
    with torch.no_grad():  # teacher forcing (all prefixes at once) agrees with sampling
        forced = policy.unroll(tokens)
    assert torch.allclose(forced[1], log_probs, atol=1e-5)
    assert torch.allclose(forced[3], features, atol=1e-5)
    assert torch.allclose(goals.norm(dim=2), torch.ones(4, 6))  # unit goals
    # another D leaks other features, and the manager's goals change with them
    other = TextCNN(12, 6, widths=(2, 3), maps=(4, 4)).eval()
    _, _, other_goals, _ = LeakedPolicy(G, other).unroll(tokens)
    assert not torch.allclose(other_goals, goals)


def test_leakgans_manager_and_worker_each_learn_from_their_own_loss_only(tmp_path):
    """As the original code's two updates: the manager's parameters get only the manager's
    loss's gradient and the worker's only the worker's, each group clipped on its own (not
    the two losses summed and clipped together)."""
    recipe = trainer("leakgan", tmp_path / "run", {"kimg": 0.6, "ticks": 1}).recipe
    tokens = load_dataset("oracle_lstm", SMALL).train_x[:32]
    manager_loss, worker_loss = recipe._mle_losses(tokens)
    manager = recipe._manager_parameters()
    known = {id(p) for p in manager}
    worker = [p for p in recipe.G.parameters() if id(p) not in known]
    leaked = torch.autograd.grad(worker_loss, manager, retain_graph=True, allow_unused=True)
    assert all(g is None or not g.any() for g in leaked)  # goals reach the worker detached
    expected = {}
    for loss, group in ((manager_loss, manager), (worker_loss, worker)):
        grads = torch.autograd.grad(loss, group, retain_graph=True, allow_unused=True)
        norm = torch.cat([g.flatten() for g in grads if g is not None]).norm()
        scale = min(1.0, recipe.spec.grad_clip / (float(norm) + 1e-6))
        expected |= {
            id(p): None if g is None else g * scale for p, g in zip(group, grads, strict=True)
        }
    recipe._split_update(manager_loss, worker_loss, torch.optim.SGD(recipe.G.parameters(), lr=0.0))
    for parameter in recipe.G.parameters():
        want = expected[id(parameter)]
        if want is None:
            assert parameter.grad is None or not parameter.grad.any()
        else:
            assert torch.allclose(parameter.grad, want, rtol=1e-4, atol=1e-7)


def test_leakgans_rescaled_rewards_follow_the_rank_in_the_batch():
    from harness.recipes.leakgan import rescale

    rewards = torch.tensor([[0.2, 0.9], [0.7, 0.1], [0.4, 0.5], [0.9, 0.3]])
    out = rescale(rewards, delta=16.0)
    ranks = torch.tensor([[4, 1], [2, 4], [3, 2], [1, 3]], dtype=torch.float)
    assert torch.allclose(out, torch.sigmoid(16 * (0.5 - ranks / 4)))
    assert torch.equal(rescale(rewards * 100 - 3), out)  # only the order matters


def test_leakgans_goal_and_intrinsic_terms_are_the_papers_cosines():
    from harness.recipes.leakgan import goal_cosines, intrinsic_rewards

    torch.manual_seed(0)
    goals, features, c = torch.randn(2, 5, 3), torch.randn(2, 6, 3), 2
    cos = torch.nn.functional.cosine_similarity
    manual = torch.stack(
        [cos(features[:, t + c] - features[:, t], goals[:, t], dim=1) for t in range(4)], 1
    )
    assert torch.allclose(goal_cosines(goals, features, c), manual, atol=1e-6)
    rewards = intrinsic_rewards(goals, features, c)
    for t in range(5):
        terms = [
            cos(features[:, t + 1] - features[:, t + 1 - i], goals[:, t + 1 - i], dim=1)
            for i in range(1, c + 1)
            if t + 1 - i >= 0
        ]
        assert torch.allclose(rewards[:, t], torch.stack(terms).sum(0) / c, atol=1e-6)


def test_textgans_generator_gradient_flows_through_the_soft_argmax():
    from harness.variants.nets.textgan import LatentLSTM, TextGANDiscriminator, mmd2

    torch.manual_seed(0)
    G = LatentLSTM(15, 6, 5, 7, latent=4)
    D = TextGANDiscriminator(15, 5, (4, 4, 4, 4), latent=4)
    real = torch.randint(15, (8, 6))
    soft = G.soft_sequence(torch.randn(8, 4), scale=1000.0)
    assert soft.shape == (8, 6, 15) and torch.allclose(soft.sum(-1), torch.ones(8, 6))
    loss = mmd2(D.features(real).detach(), D.soft_features(soft), sigma=1.0)
    loss.backward()
    for name, parameter in G.named_parameters():
        if name != "embed.weight":  # the rows of tokens never fed (start: fed, others: soft)
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert G.embed.weight.grad[:15].abs().sum() > 0
    # one-hot distributions give the tokens' own features
    one_hot = torch.nn.functional.one_hot(real, 15).float()
    assert torch.allclose(D.soft_features(one_hot), D.features(real), atol=1e-6)


def test_mmd_is_zero_between_equal_sets_and_matches_its_closed_form():
    from harness.variants.nets.textgan import mmd2

    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[3.0]])
    assert mmd2(x, x, 2.0) == pytest.approx(0.0, abs=1e-7)
    k = lambda d: torch.exp(torch.tensor(-(d**2) / 8.0))  # noqa: E731  σ = 2
    expected = (2 + 2 * k(1.0)) / 4 + 1 - 2 * (k(3.0) + k(2.0)) / 2
    assert mmd2(x, y, 2.0) == pytest.approx(float(expected), abs=1e-6)


def test_textgans_likelihood_is_the_mixture_over_its_latent():
    from harness.variants.nets.textgan import LatentLSTM

    torch.manual_seed(0)
    G = LatentLSTM(9, 5, 4, 6, latent=3)
    tokens = torch.randint(9, (4, 5))
    with torch.no_grad():
        per_z = torch.stack(
            [G.conditional_log_prob(tokens, z.expand(4, -1)).sum(1) for z in G.marginal_z]
        )
        expected = per_z.exp().mean(0).log()
        assert torch.allclose(G.log_prob(tokens).sum(1), expected, atol=1e-5)
        G.init.weight.zero_()  # z ignored: the mixture is the conditional
        assert torch.allclose(
            G.log_prob(tokens).sum(1),
            G.conditional_log_prob(tokens, G.marginal_z[:4]).sum(1),
            atol=1e-5,
        )


SETTINGS = {"pretrain_kimg": 0.128, "d_pretrain_kimg": 0.064, "d_steps": 2}


def trainer(preset: str, run_dir: Path, budget: dict):
    evaluation = {"num_samples": 200, "metrics": ["nll_oracle", "nll_test"]}
    extra = {"rollouts": 2} if preset != "textgan" else {}
    extra |= {"reference_size": 8} if preset == "rankgan" else {}
    extra |= {"mle_every": 2} if preset == "leakgan" else {}
    cell = make_cell(
        preset, "oracle_lstm", SMALL, evaluation=evaluation, budget=budget, batch_size=32,
        d_width=8, **SETTINGS, **extra,
    )  # fmt: skip
    data = load_dataset(cell.dataset, cell.dataset_params)
    return Trainer(cell, data, CPU, Evaluator(cell.evaluation, data, CPU), run_dir)


@pytest.mark.parametrize("preset", TEXT_GANS)
def test_each_text_gan_pretrains_then_trains_adversarially_on_one_budget(preset, tmp_path):
    run = trainer(preset, tmp_path / "run", {"kimg": 0.6, "ticks": 1})
    recipe, phases = run.recipe, []
    for _ in range(run.total):
        g_before = [p.detach().clone() for p in recipe.G.parameters()]
        d_before = [p.detach().clone() for p in recipe.D.parameters()]
        stats = run.step()
        phases.append(int(stats["phase"]))
        moved = [
            any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
            for before, net in ((g_before, recipe.G), (d_before, recipe.D))
        ]
        assert moved == {1: [True, False], 2: [False, True], 3: [True, True]}[phases[-1]]
        assert torch.isfinite(stats["loss_g"]) and torch.isfinite(stats["loss_d"])
    assert phases == sorted(phases) and set(phases) == {1, 2, 3}
    assert phases.count(1) == 4  # 128 sequences of MLE in batches of 32
    assert run.images_seen == recipe.examples == recipe.examples_before(run.total) >= 600
    assert recipe.examples_before(run.total - 1) < 600


@pytest.mark.parametrize("preset", TEXT_GANS[1:])
def test_a_text_gan_cell_resumes_bit_identically_in_the_adversarial_phase(preset, tmp_path):
    budget = {"kimg": 0.6, "ticks": 3}
    whole = trainer(preset, tmp_path / "whole", budget)
    assert whole.run().status == "completed"
    cut = trainer(preset, tmp_path / "cut", budget)
    cut.total = cut.ticks[1]
    cut.run()
    resumed = trainer(preset, tmp_path / "cut", budget)
    resumed.resume(tmp_path / "cut" / "checkpoint.pt")
    assert resumed.recipe._phase(resumed.recipe.examples) == 3
    assert resumed.run().status == "completed"
    assert training_values(resumed.last_record) == training_values(whole.last_record)
    for part in ("generator", "discriminator"):
        for name, tensor in whole.recipe.state_dict()[part].items():
            assert torch.equal(tensor, resumed.recipe.state_dict()[part][name]), (part, name)


TINY_TEXT = """
name = "tiny-text"
version = "1"
seeds = [0]

[[datasets]]
name = "oracle_lstm"
label = "oracle<40>"
params = { vocab = 40, length = 8, size = 1000, test_size = 500, validation_size = 200 }

[[variants]]
preset = "mle"
batch_size = 32

"""
GAN_SETTINGS = {
    "seqgan": "rollouts = 2\n",
    "rankgan": "rollouts = 2\nreference_size = 8\n",
    "leakgan": "rollouts = 2\n",
    "textgan": "",
}
TINY_TEXT += "".join(
    f'[[variants]]\npreset = "{preset}"\nbatch_size = 32\nd_width = 8\nd_steps = 1\n'
    f"pretrain_kimg = 0.128\nd_pretrain_kimg = 0.032\n{extra}\n"
    for preset, extra in GAN_SETTINGS.items()
)
TINY_TEXT += """
[budget]
kimg = 0.32
ticks = 2

[evaluation]
metrics = ["nll_oracle", "nll_test"]
num_samples = 300

[study]
variant = "seqgan"
objective = "nll_oracle"
trials = 2

[study.space]
adversarial_lr = { type = "float", low = 1e-4, high = 1e-2, log = true }
rollouts = { type = "int", low = 1, high = 3 }
"""


@pytest.mark.slow  # ~60 s of CLI runs; each recipe's phases and resume are checked in-process above
def test_a_text_suite_runs_reports_studies_and_nightly_like_any_suite(write_suite, tmp_path):
    """Five sequence models through the generic CLI: the run table puts every GAN beside MLE
    and the oracle's floor, the report shows their sample sentences (escaped), a study
    searches a text GAN's own axes, and the nightly job runs the suite twice without alarm."""
    from conftest import run_cli

    path = write_suite(TINY_TEXT)
    results = tmp_path / "results"
    run = run_cli("run", path, results=results, timeout=900)
    assert run.returncode == 0, run.stderr + run.stdout
    for variant in ("mle", "seqgan", "rankgan", "leakgan", "textgan"):
        assert variant in run.stdout
    # the oracle's samples were drawn once, kept in the cache, and every run names the file
    import hashlib
    import os

    from mlflow import MlflowClient

    from harness.data import OracleParams
    from harness.data.oracle import _cache_key

    params = OracleParams(vocab=40, length=8, size=1000, test_size=500, validation_size=200)
    cached = (
        Path(os.environ["GANBENCH_CACHE"]) / "datasets" / f"oracle_lstm-{_cache_key(params)}.pt"
    )
    client = MlflowClient(f"sqlite:///{results.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ganbench/tiny-text")
    runs = client.search_runs([experiment.experiment_id])
    tagged = [run for run in runs if "data.sha256" in run.data.tags]
    names = " ".join(run.info.run_name for run in tagged)
    assert all(variant in names for variant in ("mle", "seqgan", "rankgan", "leakgan", "textgan"))
    digests = {run.data.tags["data.sha256"] for run in tagged}
    assert digests == {hashlib.sha256(cached.read_bytes()).hexdigest()}, names
    report = run_cli("report", path, "--out", tmp_path / "report", results=results)
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report" / "leaderboard.html").read_text()
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "oracle&lt;40&gt;: sample sentences" in html and "oracle<40>" not in html
    against = markdown.split("each model against mle at the same budget")[1].split("## ")[0]
    assert all(f"| {v} | 1 |" in against for v in ("seqgan", "rankgan", "leakgan", "textgan"))
    assert "selected on the model's nll of the 200 validation sequences" in markdown
    section = markdown.split("sample sentences")[1]
    assert all(v in section for v in ("| mle |", "| leakgan |", "| textgan |"))
    table = (tmp_path / "report" / "leaderboard.csv").read_text()
    assert "nll_oracle_300" in table and "nll_test" in table and "rankgan" in table
    study = run_cli("study", path, results=results, timeout=900)
    assert study.returncode == 0, study.stderr
    assert "objective nll_oracle_300 (minimize)" in study.stdout + study.stderr
    reports = ("--reports-dir", tmp_path / "reports")
    for _ in range(2):
        nightly = run_cli("nightly", path, *reports, results=results, timeout=900)
        assert nightly.returncode == 0 and "passed" in nightly.stdout, nightly.stderr
