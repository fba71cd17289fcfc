"""The evaluator: a fixed latent bank per suite, generated samples, registered metrics.

The runner builds one ``Evaluator`` per cell and calls ``evaluate(sampler, ...)`` at eval
ticks. The latent bank depends only on the evaluation seed and the latent size, so every cell
of a suite is scored on the same latents and scores differ only because the models differ.
Image metrics go through a ``FidelityBridge`` (torch-fidelity with a domain classifier),
built once per cell, before training, so a missing extractor fails early.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.evaluate import METRICS, metric_key

TRUNCATION_STREAM = 7919  # offset of the evaluation seed for truncation's redraws


@dataclass
class EvalContext:
    samples: torch.Tensor
    labels: torch.Tensor | None
    data: Any
    bridge: Any = None
    num_samples: int = 0
    classifier_bridge: Any = None
    reference_split: str = "train"  # "test" for the best-checkpoint selection score
    cache: dict = field(default_factory=dict)
    conditional: bool = False  # the samples were generated for ``labels``
    reference_size: int = 0  # real images the reference set is asked for (default num_samples)
    is_splits: int = 10
    targets: torch.Tensor | None = None  # the true output of each sample's input (translation)
    sampler: Any = None  # the model's sampler (None for real data and baselines)
    inputs: torch.Tensor | None = None  # what the samples were generated from (translation)

    def __post_init__(self) -> None:
        self.reference_size = self.reference_size or self.num_samples


class Evaluator:
    """Scores a recipe's sampler with the cell's metrics; restores its train/eval mode."""

    def __init__(
        self,
        spec,
        data,
        device: torch.device,
        cache_dir: Path | None = None,
        dataset_params: dict | None = None,
        chunk: int = 1000,
    ) -> None:
        self.spec, self.data, self.device, self.chunk = spec, data, device, chunk
        self.bridge = self.classifier_bridge = None
        from harness.evaluate import PIXEL_METRICS

        # Pixel metrics alone (L1, SSIM, cycle errors) need no feature extractor.
        if data.info.kind == "images" and set(spec.metrics) - set(PIXEL_METRICS):
            from harness.evaluate import CLASS_METRICS, classifier_datasets
            from harness.evaluate.fidelity import (
                classifier_bridge,
                inception_bridge,
            )

            if cache_dir is None:
                raise ValueError(
                    "image metrics need a cache directory for extractors and reference features"
                )
            dataset, params = data.info.name, dataset_params or {}
            if dataset in classifier_datasets():
                self.classifier_bridge = classifier_bridge(
                    dataset, params, data, device, Path(cache_dir)
                )
            if spec.extractor == "inception" and set(spec.metrics) - set(CLASS_METRICS):
                from harness.evaluate.inception import locate_weights

                weights = locate_weights(spec.inception_weights, Path(cache_dir))
                self.bridge = inception_bridge(weights, data, device, Path(cache_dir))
            else:
                self.bridge = self.classifier_bridge

    def describe(self) -> dict[str, str]:
        """The evaluation protocol, logged as tags so scores are compared only when it matches."""
        tags = {
            "eval.num_samples": str(self.spec.num_samples),
            "eval.mode_samples": str(self.spec.mode_samples or self.spec.num_samples),
            "eval.is_splits": str(self.spec.is_splits),
            "eval.truncation": ",".join(f"{t:g}" for t in self.spec.truncation) or "none",
            "eval.seed": str(self.spec.seed),
            "eval.metrics": ",".join(self.spec.metrics),
        }
        if self.spec.psi:
            tags["eval.psi"] = ",".join(f"{p:g}" for p in self.spec.psi)
        if self.spec.temperatures:
            tags["eval.temperatures"] = ",".join(f"{t:g}" for t in self.spec.temperatures)
        if self.data.extra.get("digest"):  # generated data kept in the cache: which file
            tags["data.sha256"] = self.data.extra["digest"]
        if self.classifier_bridge is not None and self.classifier_bridge is not self.bridge:
            tags["eval.mode_classifier"] = self.classifier_bridge.name
        kind, validation = self.data.info.kind, self.data.extra.get("validation")
        if kind == "sequences" and validation is not None:
            tags["eval.selection"] = (
                f"the model's nll of the {len(validation)} validation sequences"
            )
        elif kind == "points":
            tags["eval.selection"] = (
                f"modes covered, then high-quality fraction, of {self.spec.num_samples} samples "
                "from the selection bank"
            )
        elif self.bridge is not None:
            count = self.spec.num_samples
            tags["eval.selection"] = (
                f"fid of {count} samples from the selection bank against "
                f"{self.bridge.reference_count(count, 'test')} test-split images"
            )
        return {**tags, **(self.bridge.describe() if self.bridge else {})}

    def latent_bank(
        self,
        sampler,
        count: int | None = None,
        selection: bool = False,
        truncation: float | None = None,
    ):
        """Latents (as the recipe's sampler draws them) and class labels from the suite's
        evaluation seed (the selection bank, used to choose the best checkpoint, from the next
        seed). With ``truncation``, the same bank with every latent entry beyond ±truncation
        redrawn (from a stream of its own), so the labels stay those of the untruncated bank."""
        from harness.recipes.base import truncate

        count = count or self.spec.num_samples
        generator = torch.Generator().manual_seed(self.spec.seed + int(selection))
        z, labels = sampler.bank(count, generator, self.data.info.num_classes, selection)
        if truncation is not None:
            redraws = torch.Generator().manual_seed(self.spec.seed + TRUNCATION_STREAM)
            z = truncate(z, truncation, redraws)
        return z, labels

    @torch.no_grad()
    def generate(
        self,
        sampler,
        count: int | None = None,
        selection: bool = False,
        truncation: float | None = None,
    ):
        """Samples from the latent bank, in chunks, on CPU, with the model in eval mode."""
        z, labels = self.latent_bank(sampler, count, selection, truncation)
        with _eval_mode(sampler.module):
            return self._forward(sampler, z, labels), labels

    def _forward(self, sampler, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        out = [
            sampler(
                z[i : i + self.chunk].to(self.device), labels[i : i + self.chunk].to(self.device)
            ).cpu()
            for i in range(0, len(z), self.chunk)
        ]
        return torch.cat(out)

    @torch.no_grad()
    def picture_columns(self, sampler, count: int) -> list[torch.Tensor]:
        """The columns of a sample picture for the first ``count`` bank entries (on CPU):
        the samples alone, or a translator's source, output and target, or a coupled
        model's pair (``Sampler.columns``)."""
        bank, labels = self.latent_bank(sampler, count)
        with _eval_mode(sampler.module):
            samples = self._forward(sampler, bank, labels)
            columns = sampler.columns(bank.to(self.device), samples.to(self.device))
            return [column.cpu() for column in columns]

    def mode_metrics(self) -> list[str]:
        """The class-count metrics scored again on ``mode_samples`` at the final evaluation
        (images only; none when ``mode_samples`` is unset or equals ``num_samples``)."""
        from harness.evaluate import CLASS_METRICS

        count = self.spec.mode_samples
        if self.data.info.kind != "images" or count in (None, self.spec.num_samples):
            return []
        return [name for name in self.spec.metrics if name in CLASS_METRICS]

    def evaluate(self, sampler, final: bool = False) -> dict[str, float]:
        """Every metric of the cell under its logged name; undefined ones are left out. The
        final evaluation also scores the class-count metrics on ``mode_samples`` samples
        (their names carry that count), which is too slow to repeat at every tick, and every
        metric again at each ``truncation`` threshold (names ending ``_trunc<t>``)."""
        if not self.spec.metrics:
            return {}
        started = time.perf_counter()
        conditional = sampler.conditional
        samples, labels = self.generate(sampler)
        # Against as many real images as the protocol asks for, whatever the bank holds (a
        # translator's bank is its held-out sources), as the real-data row is.
        scores = self.score(
            samples, labels, conditional, reference_size=self.spec.num_samples, sampler=sampler
        )
        if final and self.mode_metrics():
            counted = len(samples)
            samples, labels = self.generate(sampler, self.spec.mode_samples)
            if len(samples) != counted:  # a translator's bank may hold no more
                scores |= self.score(samples, labels, conditional, self.mode_metrics())
        # At the end, the same metrics from the model sampled otherwise: StyleGAN's w
        # truncated by ψ, a sequence model at another softmax temperature.
        others = []
        if final and hasattr(sampler, "at_psi"):
            others += [(f"_psi{psi:g}", sampler.at_psi(psi)) for psi in self.spec.psi]
        if final and hasattr(sampler, "at_temperature"):
            others += [(f"_temp{t:g}", sampler.at_temperature(t)) for t in self.spec.temperatures]
        for suffix, other in others:
            samples, labels = self.generate(other)
            extra = self.score(samples, labels, conditional, sampler=other)
            extra.pop("eval_reference_cached", None)
            scores |= {f"{key}{suffix}": v for key, v in extra.items()}
        for threshold in self.spec.truncation if final else ():
            samples, labels = self.generate(sampler, truncation=threshold)
            truncated = self.score(samples, labels, conditional)
            truncated.pop("eval_reference_cached", None)
            scores |= {f"{key}_trunc{threshold:g}": v for key, v in truncated.items()}
        return scores | {"eval_seconds": time.perf_counter() - started}

    def score(
        self,
        samples: torch.Tensor,
        labels: torch.Tensor | None = None,
        conditional: bool = False,
        names: list[str] | None = None,
        reference_size: int | None = None,
        sampler=None,
        targets: torch.Tensor | None = None,
        inputs: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """Score a given set of samples (what ``evaluate`` does after generating them)
        against a reference of ``reference_size`` real images (default: as many as samples).
        With ``sampler`` (a model's), the true targets and inputs of its bank come from it;
        without, ``targets`` and ``inputs`` may be given (a translation baseline)."""
        reference_size = reference_size or len(samples)
        if sampler is not None:
            targets = sampler.targets(len(samples))
            inputs = self.latent_bank(sampler, len(samples))[0]
        context = EvalContext(
            samples,
            labels,
            self.data,
            self.bridge,
            len(samples),
            self.classifier_bridge,
            conditional=conditional,
            reference_size=reference_size,
            is_splits=self.spec.is_splits,
            targets=targets,
            sampler=sampler,
            inputs=inputs,
        )
        kind, extractor = self.data.info.kind, self.spec.extractor
        reference = self.bridge.reference_count(reference_size) if self.bridge else None
        scores = {}
        for name in names or self.spec.metrics:
            value = METRICS.get(name)(context)
            if value is not None:
                key = metric_key(
                    name, kind, len(samples), extractor, reference, self.spec.is_splits
                )
                scores[key] = float(value)
        if self.bridge is not None and self.bridge.reference_cache_hit is not None:
            scores["eval_reference_cached"] = float(self.bridge.reference_cache_hit)
        return scores

    def score_real(self) -> dict[str, float]:
        """The same metrics, same protocol, on held-out real data (the test split, its own
        labels as the "requested" ones) against the same reference: the real-data row. Where
        the split has fewer examples than the protocol asks for, the names carry the smaller
        count, as for a generator."""
        data, spec = self.data, self.spec
        count = min(spec.num_samples, len(data.test_x))
        x, y = data.test_x[:count], data.test_y[:count]
        scores = self.score(x, y, True, reference_size=spec.num_samples)
        if self.mode_metrics():
            count = min(spec.mode_samples, len(data.test_x))
            x, y = data.test_x[:count], data.test_y[:count]
            scores |= self.score(x, y, True, self.mode_metrics(), spec.mode_samples)
        scores.pop("eval_reference_cached", None)
        return scores

    def selection_score(self, sampler) -> float | None:
        """The score the best checkpoint is chosen on (lower is better), measured apart from
        the reported scores: a separate latent bank and, for images, the test split as
        reference (FID); for 2-D points, modes covered then high-quality fraction."""
        if not self.spec.metrics:
            return None
        if self.data.info.kind == "sequences":  # the model's NLL of held-apart sequences
            validation = self.data.extra.get("validation")
            if validation is None or not hasattr(sampler, "log_likelihood"):
                return None
            return sampler.log_likelihood(validation)
        samples, labels = self.generate(sampler, selection=True)
        if self.data.info.kind == "points":
            context = EvalContext(samples, labels, self.data)
            covered = METRICS.get("modes_covered")(context)
            return -(covered + METRICS.get("high_quality_fraction")(context))
        if self.bridge is None:
            return None
        from harness.evaluate.image_metrics import frechet_distance

        context = EvalContext(
            samples, labels, self.data, self.bridge, len(samples), reference_split="test"
        )
        return frechet_distance(context)


@contextlib.contextmanager
def _eval_mode(module: torch.nn.Module):
    """``module`` in eval mode for the block, then back in the mode it was in."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
