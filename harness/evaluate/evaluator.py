"""The evaluator: a fixed latent bank per suite, generated samples, registered metrics.

The runner builds one ``Evaluator`` per cell and calls ``evaluate(generator)`` at eval ticks.
The latent bank depends only on the evaluation seed and the latent size, so every cell of a
suite is scored on the same latents and scores differ only because the models differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from harness.evaluate import METRICS


@dataclass
class EvalContext:
    samples: torch.Tensor
    labels: torch.Tensor | None
    data: Any
    cache: dict = field(default_factory=dict)


class Evaluator:
    """Scores a generator with the cell's metrics; restores the generator's train/eval mode."""

    def __init__(self, spec, data, device: torch.device, chunk: int = 1000) -> None:
        self.spec = spec
        self.data = data
        self.device = device
        self.chunk = chunk

    def latent_bank(self, latent_dim: int, count: int | None = None):
        """Latents and class labels drawn from the suite's evaluation seed."""
        count = count or self.spec.num_samples
        generator = torch.Generator().manual_seed(self.spec.seed)
        z = torch.randn(count, latent_dim, generator=generator)
        labels = torch.randint(self.data.info.num_classes, (count,), generator=generator)
        return z, labels

    @torch.no_grad()
    def generate(self, generator, latent_dim: int, conditional: bool, count: int | None = None):
        """Samples from the latent bank, in chunks, on CPU."""
        z, labels = self.latent_bank(latent_dim, count)
        was_training = generator.training
        generator.eval()
        try:
            out = [
                generator(
                    z[i : i + self.chunk].to(self.device),
                    labels[i : i + self.chunk].to(self.device) if conditional else None,
                ).cpu()
                for i in range(0, len(z), self.chunk)
            ]
        finally:
            generator.train(was_training)
        return torch.cat(out), labels

    def evaluate(self, generator, latent_dim: int, conditional: bool) -> dict[str, float]:
        """Every metric of the cell; undefined ones are left out rather than faked."""
        if not self.spec.metrics:
            return {}
        samples, labels = self.generate(generator, latent_dim, conditional)
        context = EvalContext(samples, labels, self.data)
        scores = {}
        for name in self.spec.metrics:
            value = METRICS.get(name)(context)
            if value is not None:
                scores[name] = float(value)
        return scores
