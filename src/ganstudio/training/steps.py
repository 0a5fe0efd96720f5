"""One training step, in parts the loop calls in order: draw a batch, `d_step`, `g_step`,
`update_ema`. Each step returns its loss terms (tensors) so the loop can log them.

G runs once per step, as DCGAN trains: D learns from the detached fakes (the configured loss,
the matching-aware term, auxiliary heads, lazy R1/R2), then G from the updated D's verdict on
the same fakes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ganstudio.conditioning import Cond
from ganstudio.conditioning.sketch import roughen
from ganstudio.config import TrainConfig, choices
from ganstudio.devices import autocast
from ganstudio.imaging import from_uint8
from ganstudio.losses import diversity_loss, get_loss, gradient_penalty
from ganstudio.training.conditions import TrainingText, augment_pair, check_mismatch_pairs, mismatched
from ganstudio.training.distributed import World

Losses = dict[str, torch.Tensor]
LOSS_NAMES = ("loss_d", "loss_aux_d", "loss_mismatch", "r1", "r2", "loss_g", "loss_aux_g", "loss_diversity")


@dataclass
class Batch:
    real: torch.Tensor  # (B, C, H, W) in [-1, 1]
    full: Cond  # every condition known for the reals (the auxiliary heads learn from it)
    cond: Cond  # the reals' conditions after dropout
    fake_cond: Cond  # the fakes' conditions (pairs share them when the diversity term is on)
    captions: torch.Tensor | None  # (B,) index of each row's sampled caption, -1 = none
    z: torch.Tensor  # (B, z_dim)

    def shard(self, world: World, pairs: int) -> Batch:
        """This rank's rows of a global batch; with `pairs`, rows i and i + pairs stay together."""
        if not world.distributed:
            return self
        size = len(self.z)
        if pairs:
            per = pairs // world.size
            first = torch.arange(world.rank * per, (world.rank + 1) * per)
            index = torch.cat([first, first + pairs])
        else:
            per = size // world.size
            index = torch.arange(world.rank * per, (world.rank + 1) * per)
        index = index.to(self.z.device)
        return Batch(
            self.real[index],
            self.full.select(index),
            self.cond.select(index),
            self.fake_cond.select(index),
            None if self.captions is None else self.captions[index],
            self.z[index],
        )


SAMPLING = choices(TrainConfig, "sampling")  # ("epochs", "replacement")


class TrainingData:
    """The dataset on the training device, and how a batch of it (with its conditions) is drawn."""

    def __init__(
        self,
        images: torch.Tensor,
        conditions: Cond,
        text: TrainingText | None,
        sketches: torch.Tensor | None,
        tc: TrainConfig,
        z_dim: int,
        memory: torch.memory_format,
    ) -> None:
        self.images, self.conditions, self.text, self.sketches = images, conditions, text, sketches
        self.tc, self.z_dim, self.memory = tc, z_dim, memory
        self.device = images.device
        if tc.sampling not in SAMPLING:
            raise ValueError(f"train.sampling {tc.sampling!r} is unknown; use {' or '.join(SAMPLING)}")
        self._order, self._order_pass = torch.empty(0, dtype=torch.long), -1  # the current pass's order

    def __len__(self) -> int:
        return len(self.images)

    def draw_conditions(
        self, index: torch.Tensor, generator: torch.Generator
    ) -> tuple[Cond, Cond, torch.Tensor | None]:
        """The conditions of images `index`: all of them, those left after dropout, and the index
        of each row's sampled caption (or None without text)."""
        tc = self.tc
        cond = self.conditions.select(index)
        captions = self.text.fill(cond, index, generator) if self.text is not None else None
        if self.sketches is not None:
            cond.sketch = roughen(self.sketches[index].float() / 255, generator)  # (B, 1, R, R)
            cond.sketch_mask = torch.ones(len(index), dtype=torch.bool, device=self.device)
        dropped = cond.drop(tc.cond_drop, generator, tc.attribute_drop, tc.text_drop, tc.sketch_drop)
        return cond, dropped, captions

    def sample_conditions(self, n: int, generator: torch.Generator) -> Cond:
        """Conditions of `n` random images after dropout, as G sees them in training."""
        index = torch.randint(len(self), (n,), generator=generator).to(self.device)
        return self.draw_conditions(index, generator)[1]

    def indices(self, start: int, size: int, generator: torch.Generator) -> torch.Tensor:
        """The dataset rows of the `size` images drawn after `start` images seen (CPU, long).
        "epochs": positions in an endless run of passes, each pass a fresh order fixed by
        train.seed and the pass number, so a resumed run draws what it would have drawn."""
        if self.tc.sampling == "replacement":
            return torch.randint(len(self), (size,), generator=generator)
        n = len(self)
        positions = torch.arange(start, start + size)
        passes = positions // n
        index = torch.empty(size, dtype=torch.long)
        for p in passes.unique().tolist():  # one pass, or two where a batch straddles them
            if self._order_pass != p:
                order_rng = torch.Generator().manual_seed((self.tc.seed * 1_000_003 + p) % 2**32)
                self._order, self._order_pass = torch.randperm(n, generator=order_rng), p
            here = passes == p
            index[here] = self._order[positions[here] % n]
        return index

    def batch(self, size: int, pairs: int, generator: torch.Generator, start: int = 0) -> Batch:
        """`size` reals (the images drawn after `start` seen) with their conditions and latents for
        as many fakes. With `pairs` > 0 the fakes come in pairs that share conditions (row i and
        i + pairs): each pair shows what z changes, for the diversity term; the reals keep their
        own, so D still sees a whole batch."""
        index = self.indices(start, size, generator).to(self.device)
        real = from_uint8(self.images[index]).contiguous(memory_format=self.memory)
        full, cond, captions = self.draw_conditions(index, generator)
        fake_cond = cond.select(torch.arange(size, device=self.device) % pairs) if pairs else cond
        z = torch.randn(size, self.z_dim, generator=generator).to(self.device)
        return Batch(real, full, cond, fake_cond, captions, z)


class Steps:
    """The networks, their optimizers and the recipe's fixed choices, with the step's parts."""

    def __init__(
        self,
        G: nn.Module,
        D: nn.Module,
        opt_G: torch.optim.Optimizer,
        opt_D: torch.optim.Optimizer,
        tc: TrainConfig,
        device: torch.device,
        precision: str,
        strong_conditions: bool,
        world: World | None = None,
    ) -> None:
        self.G, self.D, self.opt_G, self.opt_D, self.tc = G, D, opt_G, opt_D, tc
        self.device, self.precision = device, precision
        self.loss_d_fn, self.loss_g_fn, self.g_needs_real = get_loss(tc.loss)
        self.aux = getattr(D, "aux_class", None) is not None or getattr(D, "aux_text", None) is not None
        # captions and sketches nearly fix the image: those models get the matching-aware D term
        # and the diversity term; class-only models skip both
        self.strong_conditions = strong_conditions
        check_mismatch_pairs(tc.mismatch_pairs)  # fails before any training
        # pairs in the global batch, and on this rank (see `Batch.shard`)
        self.world = world = world or World()
        self.global_pairs = tc.batch // 2 if tc.diversity > 0 and strong_conditions else 0
        if self.global_pairs % world.size:
            raise ValueError(
                f"train.batch {tc.batch}: with the diversity term each of {world.size} processes needs "
                f"whole pairs; use a multiple of {2 * world.size}"
            )
        self.pairs = self.global_pairs // world.size

    def autocast(self):
        return autocast(self.device, self.precision)

    def d_out(self, images: torch.Tensor, cond: Cond) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logits, and its features when the auxiliary heads need them."""
        return self.D(images, cond, return_features=True) if self.aux else (self.D(images, cond), None)

    def generate(self, batch: Batch) -> torch.Tensor:
        with self.autocast():
            return self.G(batch.z, batch.fake_cond)  # (B, C, H, W)

    def d_step(
        self,
        batch: Batch,
        fake: torch.Tensor,
        gamma: float,
        regularise: bool,
        p_aug: float,
        rng: torch.Generator,
    ) -> Losses:
        """D on reals and the detached fakes; lazy R1 (reals) and R2 (fakes) when `regularise`."""
        tc, D = self.tc, self.D
        real_in, cond_real = augment_pair(batch.real, batch.cond, tc.augment_policy, p_aug, rng)
        fake_in, cond_fake = augment_pair(
            fake.detach().float(), batch.fake_cond, tc.augment_policy, p_aug, rng
        )
        real_in = real_in.detach().requires_grad_(regularise)
        fake_in = fake_in.detach().requires_grad_(regularise)
        with self.autocast():
            (real_logits, real_features), fake_logits = self.d_out(real_in, cond_real), D(fake_in, cond_fake)
        losses: Losses = {"loss_d": self.loss_d_fn(real_logits.float(), fake_logits.float())}
        total = losses["loss_d"]
        if self.aux and (aux := D.aux_loss(real_features, batch.full)) is not None:
            losses["loss_aux_d"] = aux
            total = total + tc.aux * aux
        if tc.mismatch > 0 and self.strong_conditions:
            wrong, differs = mismatched(cond_real, batch.captions, tc.mismatch_pairs)
            if bool(differs.any()):
                with self.autocast():
                    wrong_logits = D(real_in[differs], wrong.select(differs))
                losses["loss_mismatch"] = self.loss_d_fn(real_logits[differs].float(), wrong_logits.float())
                total = total + tc.mismatch * losses["loss_mismatch"]
        if regularise:
            losses["r1"] = gradient_penalty(real_logits, real_in)
            losses["r2"] = gradient_penalty(fake_logits, fake_in)
            total = total + (gamma / 2) * tc.reg_every * (losses["r1"] + losses["r2"])
        self.opt_D.zero_grad(set_to_none=True)
        total.backward()
        self.world.average_gradients(D)
        self.opt_D.step()
        return losses

    def g_step(self, batch: Batch, fake: torch.Tensor, p_aug: float, rng: torch.Generator) -> Losses:
        """G from the updated D's verdict on the same fakes; a relativistic loss also needs the
        reals' logits, and models with strong conditions add the diversity term."""
        tc, D = self.tc, self.D
        D.requires_grad_(False)  # D's weight gradients are not needed here: skip computing them
        with self.autocast():
            fake_logits, fake_features = self.d_out(
                *augment_pair(fake.float(), batch.fake_cond, tc.augment_policy, p_aug, rng)
            )
            real_logits = None
            if self.g_needs_real:
                with torch.no_grad():
                    real_logits = D(
                        *augment_pair(batch.real, batch.cond, tc.augment_policy, p_aug, rng)
                    ).float()
        losses: Losses = {"loss_g": self.loss_g_fn(real_logits, fake_logits.float())}
        total = losses["loss_g"]
        if self.aux and (aux := D.aux_loss(fake_features, batch.fake_cond)) is not None:
            losses["loss_aux_g"] = aux
            total = total + tc.aux * aux
        if self.pairs:
            h = self.pairs
            losses["loss_diversity"] = diversity_loss(
                fake[:h], fake[h : 2 * h], batch.z[:h], batch.z[h : 2 * h], tc.diversity_cap
            )
            total = total + tc.diversity * losses["loss_diversity"]
        self.opt_G.zero_grad(set_to_none=True)
        total.backward()
        self.world.average_gradients(self.G)
        self.opt_G.step()
        D.requires_grad_(True)
        return losses


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """G_ema ← β G_ema + (1 − β) G for weights; buffers (BatchNorm statistics) are copied, and
    re-estimated for G_ema's own weights before it is used (`recalibrate_batchnorm`)."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        p_ema.lerp_(p, 1 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)


def ema_beta(tc: TrainConfig, t: float, images: int) -> float:
    """Per-step EMA decay for a half-life of `ema_kimg` thousand images, ramped up early
    (half-life at most `ema_rampup` × images seen)."""
    half_life = min(tc.ema_kimg.at(t) * 1000, images * tc.ema_rampup)
    return 0.5 ** (tc.batch / max(half_life, 1e-8))
