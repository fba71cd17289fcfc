"""Image-translation recipes, written from the papers: Pix2Pix (Isola et al. 2017) and CycleGAN
(Zhu et al. 2017). Both translate held-out source images for evaluation
(``TranslationSampler``), so the generic metrics (FID/KID of translated against real targets,
the classifier's label preservation) and the translation metrics (L1, PSNR, SSIM against the
true target, cycle and identity errors) apply unchanged.

Adversarial terms (both papers, and their public code's ``GANLoss``): D minimises half the sum
of its real and fake terms; G minimises its term with target "real". ``loss =
"nonsaturating"`` is the cross-entropy (pix2pix's vanilla GAN); ``"least_squares"`` is
CycleGAN's: D (D(y) − 1)² + D(G(x))², G (D(G(x)) − 1)².

The learning rate stays constant and, over the last ``lr_decay`` of the run's steps, falls
linearly to exactly 0 at the end (both papers: 100 epochs constant, 100 decaying). It is a
function of the step count, so it resumes with the recipe.
"""

from __future__ import annotations

import math

import torch

from harness.recipes.base import Batches, PartsState, Recipe, StepResult, TranslationSampler
from harness.train.seeding import derive_seed
from harness.variants import ARCHITECTURES
from harness.variants.optimizers import make_optimizer

LOSSES = ("nonsaturating", "least_squares")


def d_term(loss: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """D's loss: half the sum of its terms on real and on generated inputs."""
    if loss == "least_squares":
        return 0.5 * ((real - 1).square().mean() + fake.square().mean())
    softplus = torch.nn.functional.softplus
    return 0.5 * (softplus(-real).mean() + softplus(fake).mean())


def g_term(loss: str, fake: torch.Tensor) -> torch.Tensor:
    """G's adversarial loss: D's outputs on generated inputs pushed towards "real"."""
    if loss == "least_squares":
        return (fake - 1).square().mean()
    return torch.nn.functional.softplus(-fake).mean()


def lr_factor(step: int, total: int, decay: float) -> float:
    """The learning-rate multiplier for the step after ``step`` steps of ``total``: 1, then
    over the last ``decay`` of the steps linearly down to 0 at step ``total``."""
    decay_steps = math.floor(decay * total)
    if decay_steps <= 0:
        return 1.0
    start = total - decay_steps
    return 1.0 if step <= start else max(0.0, (total - step) / decay_steps)


class ImagePool:
    """A history of generated images for D (Shrivastava et al. 2017; CycleGAN §4): until
    ``size`` are stored each new image is stored and returned; afterwards each is, with
    probability ½, swapped with a random stored image (the stored one is returned), else
    returned as it is. ``size = 0`` passes images through. Returned images are detached. Its
    random draws come from its own seeded generator, kept in the checkpoint."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand((), generator=self.generator)) > 0.5:
                index = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        stored = torch.stack(self.images).cpu() if self.images else None
        return {"images": stored, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        stored = state["images"]
        self.images = [] if stored is None else [image.to(device) for image in stored]
        self.generator.set_state(state["generator"])


class _Translator(PartsState, Recipe):
    """What Pix2Pix and CycleGAN share: the loss check, the LR schedule and the step count."""

    def __init__(self, spec, data, device, seed) -> None:
        super().__init__(spec, data, device, seed)
        if spec.loss not in LOSSES:
            raise ValueError(
                f"recipe '{self.name}' trains with loss {' or '.join(LOSSES)}, not '{spec.loss}'"
            )
        self.total_steps = 0
        self.steps_done = 0

    def plan(self, total_steps: int) -> None:
        self.total_steps = total_steps

    def _schedule(self, *optimizers) -> float:
        factor = lr_factor(self.steps_done, self.total_steps, self.spec.lr_decay)
        for optimizer, base in zip(optimizers, self._base_lrs, strict=True):
            for group in optimizer.param_groups:
                group["lr"] = base * factor
        return factor

    def counters(self) -> dict[str, int]:
        return {"d_steps": self.steps_done}


class Pix2Pix(_Translator):
    """Pix2Pix: G(source) judged by a PatchGAN on (source, output) pairs, plus ``l1_weight`` ×
    L1 to the paired target (λ = 100 in the paper). One D step then one G step per batch of
    pairs; no latent input (the U-Net's dropout is the noise)."""

    name = "pix2pix"

    def __init__(self, spec, data, device, seed) -> None:
        super().__init__(spec, data, device, seed)
        generator, discriminator = ARCHITECTURES.get(spec.architecture)(spec, data.info)
        self.G, self.D = generator.to(device), discriminator.to(device)
        self.opt_g = make_optimizer(spec.g_opt, self.G.parameters())
        self.opt_d = make_optimizer(spec.d_opt, self.D.parameters())
        self._base_lrs = (spec.g_opt.lr, spec.d_opt.lr)

    def examples_per_step(self) -> int:
        return self.spec.batch_size

    def check(self, batches: Batches) -> None:
        batches.check("pairs", self.spec.batch_size)

    def sampler(self) -> TranslationSampler:
        return TranslationSampler(self.G, self.data)

    def generator_loss(self, source, target, fake=None):
        """G's loss on a batch of pairs: (total, adversarial term, L1), total = adversarial +
        ``l1_weight`` × L1 (D's parameters get no gradient from it)."""
        fake = self.G(source) if fake is None else fake
        self.D.requires_grad_(False)
        try:
            adversarial = g_term(self.spec.loss, self.D(torch.cat([source, fake], 1)))
        finally:
            self.D.requires_grad_(True)
        l1 = (fake - target).abs().mean()
        return adversarial + self.spec.l1_weight * l1, adversarial, l1

    def step(self, batches: Batches) -> StepResult:
        spec = self.spec
        factor = self._schedule(self.opt_g, self.opt_d)
        source, target, _ = batches.take("pairs", spec.batch_size)
        fake = self.G(source)
        real_out = self.D(torch.cat([source, target], 1))
        fake_out = self.D(torch.cat([source, fake.detach()], 1))
        d_loss = d_term(spec.loss, real_out, fake_out)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        total, adversarial, l1 = self.generator_loss(source, target, fake)
        self.opt_g.zero_grad(set_to_none=True)
        total.backward()
        self.opt_g.step()
        self.steps_done += 1
        stats = {
            "loss_d": d_loss.detach(),
            "loss_g": adversarial.detach(),
            "l1_loss": l1.detach(),
            "d_real": real_out.detach().mean(),
            "d_fake": fake_out.detach().mean(),
            "lr_factor": torch.tensor(factor),
        }
        return StepResult(stats, self.examples_per_step())

    def _parts(self) -> dict:
        return {
            "generator": self.G,
            "discriminator": self.D,
            "opt_g": self.opt_g,
            "opt_d": self.opt_d,
        }


class CycleGAN(_Translator):
    """CycleGAN: G: A→B and F: B→A, D_B and D_A; G's loss is both adversarial terms plus
    ``cycle_weight`` × (|F(G(a)) − a| + |G(F(b)) − b|) and, when ``identity_weight`` > 0,
    ``cycle_weight`` × ``identity_weight`` × (|G(b) − b| + |F(a) − a|); then each D steps on
    real images against generated ones drawn through its ``pool_size`` history. Batches of A
    and B are drawn independently (no pairs)."""

    name = "cyclegan"

    def __init__(self, spec, data, device, seed) -> None:
        super().__init__(spec, data, device, seed)
        if spec.identity_weight > 0 and data.info.source_shape != data.info.shape:
            raise ValueError(
                f"identity_weight needs source and target images of one shape, not "
                f"{data.info.source_shape} and {data.info.shape}; allowed: identity_weight = 0"
            )
        build = ARCHITECTURES.get(spec.architecture)
        self.G, self.D_B = (net.to(device) for net in build(spec, data.info))
        backwards = _swapped(data.info)
        self.F, self.D_A = (net.to(device) for net in build(spec, backwards))
        self.opt_g = make_optimizer(spec.g_opt, [*self.G.parameters(), *self.F.parameters()])
        self.opt_d = make_optimizer(spec.d_opt, [*self.D_A.parameters(), *self.D_B.parameters()])
        self._base_lrs = (spec.g_opt.lr, spec.d_opt.lr)
        self.pool_a = ImagePool(spec.pool_size, derive_seed(seed, "pool:A"))
        self.pool_b = ImagePool(spec.pool_size, derive_seed(seed, "pool:B"))

    def examples_per_step(self) -> int:
        return 2 * self.spec.batch_size  # a batch of each domain

    def check(self, batches: Batches) -> None:
        batches.check("A", self.spec.batch_size)
        batches.check("B", self.spec.batch_size)

    def sampler(self) -> TranslationSampler:
        return TranslationSampler(self.G, self.data, inverse=self.F)

    def generator_loss(self, a, b):
        """G and F's loss on a batch of each domain: (total, parts), the parts being the
        adversarial terms' sum, each cycle L1, each identity L1 (when weighted) and the
        translated batches ``fake_a`` = F(b) and ``fake_b`` = G(a). D_A and D_B get no
        gradient from it."""
        spec = self.spec
        fake_b, fake_a = self.G(a), self.F(b)
        cycle_a, cycle_b = (self.F(fake_b) - a).abs().mean(), (self.G(fake_a) - b).abs().mean()
        for d in (self.D_A, self.D_B):
            d.requires_grad_(False)
        try:
            adversarial = g_term(spec.loss, self.D_B(fake_b)) + g_term(spec.loss, self.D_A(fake_a))
        finally:
            for d in (self.D_A, self.D_B):
                d.requires_grad_(True)
        total = adversarial + spec.cycle_weight * (cycle_a + cycle_b)
        parts = {"adversarial": adversarial, "cycle_a": cycle_a, "cycle_b": cycle_b}
        if spec.identity_weight > 0:
            identity_b, identity_a = (self.G(b) - b).abs().mean(), (self.F(a) - a).abs().mean()
            total = total + spec.cycle_weight * spec.identity_weight * (identity_a + identity_b)
            parts |= {"identity_a": identity_a, "identity_b": identity_b}
        return total, parts | {"fake_a": fake_a, "fake_b": fake_b}

    def step(self, batches: Batches) -> StepResult:
        spec = self.spec
        factor = self._schedule(self.opt_g, self.opt_d)
        a, _ = batches.take("A", spec.batch_size)
        b, _ = batches.take("B", spec.batch_size)
        g_loss, parts = self.generator_loss(a, b)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()

        fake_a, fake_b = parts.pop("fake_a"), parts.pop("fake_b")
        real_b_out, pooled_b_out = self.D_B(b), self.D_B(self.pool_b.query(fake_b))
        real_a_out, pooled_a_out = self.D_A(a), self.D_A(self.pool_a.query(fake_a))
        d_loss_b = d_term(spec.loss, real_b_out, pooled_b_out)
        d_loss_a = d_term(spec.loss, real_a_out, pooled_a_out)
        self.opt_d.zero_grad(set_to_none=True)
        (d_loss_a + d_loss_b).backward()
        self.opt_d.step()
        self.steps_done += 1
        stats = {
            "loss_d": (d_loss_a + d_loss_b).detach(),
            "loss_g": parts.pop("adversarial").detach(),
            **{name: value.detach() for name, value in parts.items()},
            "d_real": real_b_out.detach().mean(),
            "d_fake": pooled_b_out.detach().mean(),
            "lr_factor": torch.tensor(factor),
        }
        return StepResult(stats, self.examples_per_step())

    def _parts(self) -> dict:
        names = ("G", "F", "D_A", "D_B", "opt_g", "opt_d")
        return {name: getattr(self, name) for name in names}

    def state_dict(self) -> dict:
        pools = {"pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}
        return {**super().state_dict(), **pools}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.pool_a.load_state_dict(state["pool_a"], self.device)
        self.pool_b.load_state_dict(state["pool_b"], self.device)


def _swapped(info):
    """The dataset description with source and target swapped (for F: B → A)."""
    import dataclasses

    return dataclasses.replace(info, shape=info.source_shape, source_shape=info.shape)
