"""The sequence modality (text-gans reference §1): SeqGAN's N(0, 1) LSTM oracle with held-out
and validation samples, inverse-CDF sampling from a bank of uniforms, the NLL metrics, and
maximum likelihood as a recipe through the generic loop."""

import math
import os
from pathlib import Path

import pytest
import torch
from conftest import make_cell

from harness.data import load_dataset
from harness.evaluate.evaluator import Evaluator
from harness.train.loop import Trainer
from harness.variants.nets.sequence import LSTMModel, normal_init

CPU = torch.device("cpu")
SMALL = {"vocab": 40, "length": 8, "size": 2000, "test_size": 1000, "validation_size": 500}


def test_the_oracle_is_seeded_n01_and_its_samples_are_separate_streams():
    data = load_dataset("oracle_lstm", SMALL)
    again = load_dataset("oracle_lstm", SMALL)
    other = load_dataset("oracle_lstm", {**SMALL, "seed": 1})
    assert torch.equal(data.train_x, again.train_x) and torch.equal(data.test_x, again.test_x)
    assert not torch.equal(data.train_x, other.train_x)
    assert data.train_x.shape == (2000, 8) and data.train_x.dtype == torch.long
    assert int(data.train_x.max()) < 40 and int(data.train_x.min()) >= 0
    assert not torch.equal(data.train_x[:500], data.extra["validation"])
    weights = torch.cat([p.flatten() for p in data.extra["oracle"].parameters()])
    assert weights.std().item() == pytest.approx(1.0, abs=0.05)
    assert data.info.kind == "sequences" and data.info.vocab_size == 40


def test_the_oracle_and_its_samples_are_cached_under_a_hash_and_checked_on_reuse(
    tmp_path, monkeypatch
):
    from harness.data import oracle as module

    fresh = load_dataset("oracle_lstm", SMALL)
    cached = load_dataset("oracle_lstm", SMALL, tmp_path)
    (path,) = (tmp_path / "datasets").glob("oracle_lstm-*.pt")
    assert torch.equal(cached.train_x, fresh.train_x) and torch.equal(cached.test_x, fresh.test_x)
    assert torch.equal(cached.extra["validation"], fresh.extra["validation"])
    assert "digest" not in fresh.extra and len(cached.extra["digest"]) == 64
    stored = torch.load(path, weights_only=True)
    assert torch.equal(stored["oracle"]["out.weight"], fresh.extra["oracle"].out.weight)

    drawn = []
    real_draw = module._draw
    monkeypatch.setattr(module, "_draw", lambda *a: drawn.append(a) or real_draw(*a))
    again = load_dataset("oracle_lstm", SMALL, tmp_path)
    assert drawn == [] and torch.equal(again.train_x, fresh.train_x)
    assert again.extra["digest"] == cached.extra["digest"]
    load_dataset("oracle_lstm", {**SMALL, "seed": 1}, tmp_path)  # other parameters, other file
    assert len(drawn) == 3 and len(list((tmp_path / "datasets").glob("*.pt"))) == 2

    # samples paired with another oracle's weights, or a torn file, are drawn again
    stored["oracle"]["out.weight"] += 1
    torch.save(stored, path)
    assert torch.equal(load_dataset("oracle_lstm", SMALL, tmp_path).test_x, fresh.test_x)
    assert len(drawn) == 6
    path.write_bytes(path.read_bytes()[:100])
    assert torch.equal(load_dataset("oracle_lstm", SMALL, tmp_path).train_x, fresh.train_x)
    assert len(drawn) == 9 and module._digest(path) == cached.extra["digest"]
    assert not list((tmp_path / "datasets").glob("*.tmp"))


def test_inverse_cdf_sampling_follows_the_models_distribution_at_any_batch_size():
    torch.manual_seed(0)
    model = LSTMModel(6, 3, 4, 5)
    normal_init(model, 1.0)
    uniforms = torch.rand(40000, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        tokens = model.sample(uniforms)
        assert torch.equal(model.sample(uniforms[:7]), tokens[:7])
        first = torch.softmax(model.logits(tokens[:1])[0, 0], dim=-1)
    counts = torch.bincount(tokens[:, 0], minlength=6).double() / len(tokens)
    assert torch.allclose(counts, first.double(), atol=0.01)


def test_log_prob_is_the_chain_rule_of_the_sampling_distributions():
    torch.manual_seed(0)
    model = LSTMModel(7, 4, 3, 5)
    tokens = torch.randint(7, (3, 4))
    with torch.no_grad():
        by_position = model.log_prob(tokens)
        state, token, manual = None, torch.full((3, 1), 7), []
        for t in range(4):
            hidden, state = model.lstm(model.embed(token), state)
            log_probs = torch.log_softmax(model.out(hidden[:, 0]), dim=-1)
            manual.append(log_probs.gather(1, tokens[:, t : t + 1]))
            token = tokens[:, t : t + 1]
    assert torch.allclose(by_position, torch.cat(manual, dim=1), atol=1e-6)


def build(run_dir: Path, **axes):
    evaluation = axes.pop("evaluation", {"num_samples": 1000})
    evaluation.setdefault("metrics", ["nll_oracle", "nll_test", "nll_train"])
    cell = make_cell("mle", "oracle_lstm", SMALL, evaluation=evaluation, **axes)
    data = load_dataset(cell.dataset, cell.dataset_params)
    return Trainer(cell, data, CPU, Evaluator(cell.evaluation, data, CPU), run_dir)


def test_mle_learns_the_oracle_far_below_the_untrained_generator(tmp_path):
    trainer = build(tmp_path / "run", budget={"kimg": 12.8, "ticks": 2})
    before = trainer.evaluator.evaluate(trainer.recipe.sampler())
    floor = trainer.evaluator.score_real()
    outcome = trainer.run()
    after = outcome.record
    assert outcome.status == "completed"
    assert set(before) >= {"nll_oracle_1k", "nll_test", "nll_train"}
    assert "nll_test" not in floor  # real data has no model; its NLL-oracle is the floor
    assert floor["nll_oracle_1k"] < after["nll_oracle_1k"] < before["nll_oracle_1k"] - 0.5
    assert after["nll_test"] < before["nll_test"] - 0.5
    assert before["nll_test"] == pytest.approx(math.log(40), abs=0.2)  # near uniform at init
    texts = sorted((tmp_path / "run" / "samples").glob("*.txt"))
    assert len(texts) == 2 and len(texts[-1].read_text().splitlines()) == 32


def test_an_mle_cell_resumes_bit_identically(tmp_path):
    budget = {"g_steps": 40, "ticks": 4}
    evaluation = {"num_samples": 200, "metrics": ["nll_oracle"]}
    whole = build(tmp_path / "whole", budget=budget, evaluation=dict(evaluation))
    assert whole.run().status == "completed"
    cut = build(tmp_path / "cut", budget=budget, evaluation=dict(evaluation))
    cut.total = cut.ticks[1]
    cut.run()
    resumed = build(tmp_path / "cut", budget=budget, evaluation=dict(evaluation))
    resumed.resume(tmp_path / "cut" / "checkpoint.pt")
    assert resumed.run().status == "completed"
    from conftest import training_values

    assert training_values(resumed.last_record) == training_values(whole.last_record)
    for name, tensor in whole.recipe.state_dict()["generator"].items():
        assert torch.equal(tensor, resumed.recipe.state_dict()["generator"][name]), name


COCO = Path(
    os.environ.get(
        "GANBENCH_COCO", Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-captions"
    )
)


@pytest.mark.skipif(not (COCO / "train.txt").is_file(), reason=f"no COCO captions at {COCO}")
def test_coco_captions_encode_to_words_and_score_bleu_against_the_test_captions(tmp_path):
    from harness.evaluate.bleu import bleu

    evaluation = {"num_samples": 300, "metrics": ["bleu2", "bleu5", "self_bleu2"]}
    cell = make_cell("mle", "coco_captions", {"root": str(COCO)}, evaluation=evaluation)
    data = load_dataset(cell.dataset, cell.dataset_params)
    words, eos = data.extra["words"], data.extra["eos"]
    assert data.train_x.shape == (10000, 37) and words[eos] == "<eos>"
    first = [words[t] for t in data.train_x[0].tolist() if t != eos]
    assert first == data.extra["sentences"][0]
    evaluator = Evaluator(cell.evaluation, data, CPU)
    real = evaluator.score_real()  # the training captions against the test captions
    expected = bleu(data.extra["sentences"][:300], data.extra["references"])
    assert real["bleu2_300"] == pytest.approx(expected[2])
    trainer = Trainer(cell, data, CPU, evaluator, tmp_path)
    scores = evaluator.evaluate(trainer.recipe.sampler())  # untrained: far below real text
    assert 0 <= scores["bleu5_300"] < scores["bleu2_300"] < real["bleu2_300"] - 0.2
    assert 0 < scores["self_bleu2_300"] < real["self_bleu2_300"]


def test_the_default_caption_root_is_found_from_any_folder_and_a_missing_one_is_named(
    tmp_path, monkeypatch
):
    from harness.data import CaptionParams
    from harness.data import text as module

    checkout, elsewhere = tmp_path / "checkout", tmp_path / "deeper" / "elsewhere"
    for folder in (checkout, elsewhere, tmp_path / "shared" / "data" / "coco-captions"):
        folder.mkdir(parents=True)
    monkeypatch.setattr(module, "PROJECT_ROOT", checkout)
    monkeypatch.chdir(elsewhere)  # "../shared/..." is read beside the checkout
    assert module.caption_root(CaptionParams()) == checkout / "../shared/data/coco-captions"
    (elsewhere / "mine").mkdir()
    assert module.caption_root(CaptionParams(root="mine")) == Path("mine")  # the current folder
    message = module.caption_missing(CaptionParams(root="mine"))
    assert message == (
        f"no train.txt under mine (relative to the current folder or to {checkout}): "
        "the Image COCO captions, train.txt and test.txt"
    )
    with pytest.raises(FileNotFoundError, match="coco_captions: no train.txt under /nowhere"):
        load_dataset("coco_captions", {"root": "/nowhere"})


def test_the_texygen_compatible_oracle_saturates_its_gates():
    plain = load_dataset("oracle_lstm", SMALL).extra["oracle"]
    texygen = load_dataset("oracle_lstm", {**SMALL, "texygen_compat": True}).extra["oracle"]
    gates = torch.cat([p.flatten() for p in texygen.lstm.parameters()])
    assert gates.std().item() == pytest.approx(1e6, rel=0.05)
    assert texygen.embed.weight.std().item() == pytest.approx(1.0, abs=0.1)
    assert torch.equal(texygen.out.weight, plain.out.weight)  # only the gates differ
    with torch.no_grad():  # saturated: every input gate is 0 or 1
        x = texygen.embed(torch.zeros(1, 1, dtype=torch.long))
        pre = x[0] @ texygen.lstm.weight_ih_l0.T + texygen.lstm.bias_ih_l0
        assert (torch.sigmoid(pre[:32]) * (1 - torch.sigmoid(pre[:32]))).max() < 1e-6


def test_rollout_rewards_complete_each_prefix_and_end_with_d_on_the_whole_sequence():
    """SeqGAN's rewards (reference §4.2): shape (batch, length), the last column D of the
    full sequence, every rollout keeping its prefix and redrawing only later positions."""
    from harness.variants.nets.sequence import TextCNN, rollout_rewards

    torch.manual_seed(0)
    G, D = LSTMModel(12, 6, 8, 8), TextCNN(12, 8, widths=(2, 3), maps=(4, 4)).eval()
    sequences = torch.randint(12, (5, 6))
    seen = []
    complete = G.complete

    def spy(prefix, uniforms, temperature=1.0):
        out = complete(prefix, uniforms, temperature)
        seen.append((prefix.shape[1], out))
        assert torch.equal(out[:, : prefix.shape[1]], prefix)  # the prefix is kept
        return out

    G.complete = spy

    def score(x):
        return torch.sigmoid(D(x))

    rewards = rollout_rewards(G, score, sequences, 3, torch.Generator().manual_seed(0))
    assert rewards.shape == (5, 6)
    with torch.no_grad():
        assert torch.allclose(rewards[:, -1], torch.sigmoid(D(sequences)))
    assert [t for t, _ in seen] == [1, 2, 3, 4, 5]
    assert all(out.shape == (15, 6) for _, out in seen)  # 3 rollouts of 5 sequences
    assert not torch.equal(seen[0][1][:5, 1:], seen[0][1][5:10, 1:])  # rollouts differ
    assert ((rewards > 0) & (rewards < 1)).all()


def test_the_discriminator_pools_every_filter_width_through_a_highway():
    from harness.variants.nets.sequence import TextCNN

    D = TextCNN(20, 8, widths=(2, 3, 5), maps=(3, 4, 5))
    tokens = torch.randint(20, (7, 10))
    assert D.features(tokens).shape == (7, 12) and D(tokens).shape == (7,)
    D(tokens).sum().backward()
    assert all(p.grad is not None for p in D.parameters())
    with pytest.raises(ValueError, match="3 filter widths but 2 map counts"):
        TextCNN(20, 8, widths=(2, 3, 5), maps=(3, 4))


SEQGAN = {"pretrain_kimg": 0.128, "d_pretrain_kimg": 0.064, "rollouts": 2, "d_steps": 2}


def seqgan_trainer(run_dir: Path, budget: dict):
    evaluation = {"num_samples": 200, "metrics": ["nll_oracle"]}
    cell = make_cell(
        "seqgan", "oracle_lstm", SMALL, evaluation=evaluation, budget=budget, batch_size=32,
        d_width=8, **SEQGAN,
    )  # fmt: skip
    data = load_dataset(cell.dataset, cell.dataset_params)
    return Trainer(cell, data, CPU, Evaluator(cell.evaluation, data, CPU), run_dir)


def test_seqgan_pretrains_g_then_d_then_trains_adversarially_on_one_budget(tmp_path):
    """128 sequences of MLE (4 steps of 32), 64 of D pretraining (2 steps), then steps of
    one policy-gradient update and 2 D updates (64 real sequences each): 0.384 kimg is 9
    steps."""
    trainer = seqgan_trainer(tmp_path / "unused", {"kimg": 0.384, "ticks": 1})
    assert trainer.total == 9 and trainer.recipe.examples_before(9) == 128 + 64 + 3 * 64
    recipe, phases = trainer.recipe, []
    for _ in range(9):
        g_before = [p.detach().clone() for p in recipe.G.parameters()]
        d_before = [p.detach().clone() for p in recipe.D.parameters()]
        stats = trainer.step()
        phases.append(int(stats["phase"]))
        moved = [
            any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
            for before, net in ((g_before, recipe.G), (d_before, recipe.D))
        ]
        assert moved == {1: [True, False], 2: [False, True], 3: [True, True]}[phases[-1]]
        if phases[-1] == 3:
            assert 0 < stats["reward"] < 1
    assert phases == [1, 1, 1, 1, 2, 2, 3, 3, 3]
    assert trainer.images_seen == 384


def test_a_seqgan_cell_resumes_bit_identically_in_the_adversarial_phase(tmp_path):
    budget = {"kimg": 0.384, "ticks": 3}  # ticks end at steps 3, 6, 9
    whole = seqgan_trainer(tmp_path / "whole", budget)
    assert whole.run().status == "completed"
    cut = seqgan_trainer(tmp_path / "cut", budget)
    cut.total = cut.ticks[1]  # stop after 6 steps: the first adversarial step is next
    cut.run()
    resumed = seqgan_trainer(tmp_path / "cut", budget)
    resumed.resume(tmp_path / "cut" / "checkpoint.pt")
    assert resumed.recipe._phase(resumed.recipe.examples) == 3
    assert resumed.run().status == "completed"
    for part in ("generator", "discriminator"):
        for name, tensor in whole.recipe.state_dict()[part].items():
            assert torch.equal(tensor, resumed.recipe.state_dict()[part][name]), (part, name)


@pytest.mark.slow  # ~30 s of CLI runs; the in-process adversarial-phase resume test is the fast check
def test_sigkill_in_seqgans_adversarial_phase_then_rerun_gives_the_uninterrupted_result(
    write_suite, tmp_path
):

    from conftest import final_cell, kill_after_pictures, run_cli, training_values

    path = write_suite(
        """
        name = "text-kill"
        seeds = [0]
        [[datasets]]
        name = "oracle_lstm"
        params = { vocab = 40, length = 8, size = 2000, test_size = 500, validation_size = 200 }
        [[variants]]
        preset = "seqgan"
        batch_size = 32
        d_width = 8
        rollouts = 4
        d_steps = 2
        pretrain_kimg = 0.064
        d_pretrain_kimg = 0.032
        [budget]
        kimg = 2.016
        ticks = 30
        [evaluation]
        metrics = ["nll_oracle"]
        num_samples = 200
        """
    )
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    samples = kill_after_pictures(("run", path), killed, "runs/text-kill/*/samples", 6)
    shown = torch.load(samples.parent / "checkpoint.pt", weights_only=True)["recipe"]["examples"]
    assert shown > 96, f"killed at {shown} sequences, before the adversarial phase"
    resumed = run_cli("run", path, results=killed, timeout=600)
    assert resumed.returncode == 0 and "resuming at iteration" in resumed.stderr, resumed.stderr
    assert run_cli("run", path, results=straight, timeout=600).returncode == 0

    record_a, state_a = final_cell(killed, "runs/text-kill/*/state.json")
    record_b, state_b = final_cell(straight, "runs/text-kill/*/state.json")
    assert training_values(record_a) == training_values(record_b)
    for part in ("generator", "discriminator"):
        for name, tensor in state_a[part].items():
            assert torch.equal(tensor, state_b[part][name]), (part, name)


def test_a_temperature_sweep_scores_the_quality_diversity_frontier_under_its_own_names(tmp_path):
    """evaluation.temperatures: at the final evaluation the sequence metrics again with
    samples drawn, and likelihoods taken, at each softmax temperature. Colder samples sit
    where the oracle is likelier (lower NLL-oracle) and the colder model explains held-out
    text worse (higher nll_test); temperature 1 is the plain run."""
    evaluation = {"num_samples": 1000, "temperatures": [0.5, 1.5]}
    trainer = build(tmp_path / "run", budget={"kimg": 6.4, "ticks": 1}, evaluation=evaluation)
    trainer.run()
    scores = trainer.evaluator.evaluate(trainer.recipe.sampler(), final=True)
    cold, hot = "nll_oracle_1k_temp0.5", "nll_oracle_1k_temp1.5"
    assert scores[cold] < scores["nll_oracle_1k"] < scores[hot]
    assert scores["nll_test_temp0.5"] > scores["nll_test"]
    assert trainer.evaluator.describe()["eval.temperatures"] == "0.5,1.5"
    plain = trainer.evaluator.evaluate(trainer.recipe.sampler(), final=False)
    assert plain["nll_oracle_1k"] == scores["nll_oracle_1k"] and cold not in plain


def test_temperatures_outside_sequence_suites_or_at_one_are_refused():
    with pytest.raises(ValueError, match="evaluation.temperatures: a softmax temperature"):
        make_cell("dcgan", "digits", evaluation={"num_samples": 200, "temperatures": [0.7]})
    with pytest.raises(ValueError, match="temperatures must be distinct, above 0 and not 1"):
        make_cell("mle", "oracle_lstm", SMALL, evaluation={"num_samples": 200, "temperatures": [1]})
