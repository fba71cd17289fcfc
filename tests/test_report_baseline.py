"""The report's text section: each model against maximum likelihood at the same budget,
differences paired by seed, and read against MLE's temperature frontier."""

import pandas as pd
import pytest

from harness.report.baseline import against_mle, efficient, frontier, on_frontier

Q, C = "metric:nll_oracle_10k", "metric:nll_test"


def run(variant, recipe, seed, quality, coverage, **temps):
    row = {"variant": variant, "recipe": recipe, "seed": seed, "dataset": "oracle"}
    row |= {"dataset_kind": "sequences", "status": "completed", Q: quality, C: coverage}
    for name, (q, c) in temps.items():  # name "0.7" → nll_oracle_10k_temp0.7, nll_test_temp0.7
        row[f"{Q}_temp{name}"], row[f"{C}_temp{name}"] = q, c
    return row


SWEEP = {"0.7": (4.0, 5.4), "0.85": (5.0, 5.0), "1.2": (6.5, 4.9)}  # T=1.2 dominated by T=1


def frame(*gans):
    rows = [run("mle", "mle", s, 6.0 + 0.1 * s, 4.8 + 0.1 * s, **SWEEP) for s in (0, 1, 2)]
    return pd.DataFrame(rows + list(gans))


def test_mles_frontier_is_its_undominated_temperatures_interpolated_by_nll_oracle():
    points = frontier(frame()[lambda f: f["recipe"] == "mle"], "nll_oracle_10k")
    assert list(points["temperature"]) == [0.7, 0.85, 1.0, 1.2]
    assert points.loc[2, "quality"] == pytest.approx(6.1) and points.loc[
        2, "coverage"
    ] == pytest.approx(4.9)
    assert list(efficient(points)["temperature"]) == [0.7, 0.85, 1.0]  # 1.2: (6.5, 4.9) loses
    temperature, coverage = on_frontier(points, 4.5)  # halfway between T=0.7 and T=0.85
    assert temperature == pytest.approx(0.775) and coverage == pytest.approx(5.2)
    assert on_frontier(points, 3.0) is None and on_frontier(points, 6.3) is None


def test_each_gan_gets_paired_differences_and_a_verdict_against_the_frontier():
    gans = (
        [run("dominated", "seqgan", s, 6.6 + 0.1 * s, 5.3 + 0.1 * s) for s in (0, 1, 2)]
        + [
            run("beyond", "textgan", s, 4.5, 5.0)
            for s in (0, 1)  # frontier at 4.5: 5.2 held out
        ]
        + [run("inside", "rankgan", 0, 4.5, 5.3)]
    )
    ((heading, table),) = against_mle(frame(*gans))
    assert "oracle" in heading and "T=0.7: 4.000 / 5.400" in heading
    rows = table.set_index("variant")
    assert rows.loc["dominated", "seeds paired"] == "3"
    assert rows.loc["dominated", "Δ nll_oracle_10k [95% CI]"] == "+0.600 [+0.600, +0.600]"
    assert rows.loc["dominated", "Δ nll_test [95% CI]"].startswith("+0.500")
    assert rows.loc["dominated", "against the frontier"].startswith(
        "inside MLE's frontier: MLE at T=1 is better on both"
    )
    # two seeds: MLE's numbers and its frontier come from seeds 0 and 1 only
    assert rows.loc["beyond", "nll_oracle_10k (GAN / mle)"] == "4.500 / 6.050"
    assert rows.loc["beyond", "Δ nll_test [95% CI]"].endswith("n<3")
    assert rows.loc["beyond", "mle's nll_test at this nll_oracle_10k"] == "5.200 (T≈0.77)"
    assert (
        rows.loc["beyond", "against the frontier"] == "beyond MLE's frontier by 0.200 nats held out"
    )
    assert rows.loc["inside", "against the frontier"].startswith("inside MLE's frontier: 0.100")


def test_no_section_without_one_mle_variant_or_outside_sequence_data():
    assert against_mle(frame().assign(dataset_kind="images")) == []
    two = frame(run("mle-b", "mle", 0, 6.0, 4.8), run("gan", "seqgan", 0, 6.0, 5.0))
    assert against_mle(two) == []
    assert against_mle(frame()) == []  # MLE alone


def test_on_real_text_quality_is_bleu5_where_higher_is_better():
    B = "metric:bleu5_10k"

    def caption_run(variant, recipe, seed, bleu5, coverage, **temps):
        row = {"variant": variant, "recipe": recipe, "seed": seed, "dataset": "coco"}
        row |= {"dataset_kind": "sequences", "status": "completed", B: bleu5, C: coverage}
        for name, (b, c) in temps.items():
            row[f"{B}_temp{name}"], row[f"{C}_temp{name}"] = b, c
        return row

    sweep = {"0.7": (0.30, 3.0), "1.2": (0.10, 2.9)}
    rows = [caption_run("mle", "mle", s, 0.20, 2.5, **sweep) for s in (0, 1, 2)]
    rows += [caption_run("better", "seqgan", s, 0.25, 2.6) for s in (0, 1, 2)]  # frontier: 2.75
    rows += [caption_run("worse", "textgan", s, 0.15, 2.6) for s in (0, 1, 2)]  # T=1 beats it
    ((heading, table),) = against_mle(pd.DataFrame(rows))
    assert "bleu5_10k higher is better" in heading
    verdicts = table.set_index("variant")["against the frontier"]
    assert verdicts["better"] == "beyond MLE's frontier by 0.150 nats held out"
    assert verdicts["worse"].startswith("inside MLE's frontier: MLE at T=1 is better on both")


def test_a_model_sharper_than_the_sweep_is_placed_only_when_it_beats_the_sharpest_point():
    # MLE's sharpest swept point: T=0.7 at (4.0, 5.4); these GANs have lower NLL-oracle still
    gans = [run("unplaced", "leakgan", s, 3.8, 5.6) for s in (0, 1, 2)]
    gans += [run("dominant", "seqgan", s, 3.8, 5.2) for s in (0, 1, 2)]
    gans += [run("diverse", "textgan", s, 6.2, 4.8) for s in (0, 1, 2)]  # past T=1, as held out
    ((_, table),) = against_mle(frame(*gans))
    verdicts = table.set_index("variant")["against the frontier"]
    assert verdicts["unplaced"] == (
        "not placed: higher quality than MLE's sharpest swept point (T=0.7: 4.000) but worse "
        "held out (+0.200); sweep lower temperatures"
    )
    assert verdicts["dominant"] == (
        "beyond MLE's frontier: better on both than MLE at its sharpest swept T=0.7 "
        "(-0.200, -0.200)"
    )
    assert verdicts["diverse"] == "not beaten by MLE at any swept temperature"
