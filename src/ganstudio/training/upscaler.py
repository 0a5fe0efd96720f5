"""Training the 4× upscaler (upscaler.py) on exact pairs: the colour corpus's SVGs rendered at 64
and at 256 px (data/iconify.py), training split only (the held-out style and concept × style
pairs stay unseen, so bench/upscale.py measures drawings the upscaler never saw).

Two phases, as ESRGAN trains: first the pixel loss alone (L1: a sharp-as-possible average), then
the pixel loss plus a relativistic average GAN loss from a patch discriminator, which pushes edges
from the average towards ones that look drawn. ESRGAN's third term, a VGG feature loss, is left
out: no downloaded network is used, and ganstudio's own classifiers are evaluation networks that
no training may optimise.

Each step draws its batch from a generator seeded by (seed, step), so a killed run resumes from
its last checkpoint and continues exactly as it would have (`state.safetensors`, written
atomically, holds both nets and both optimizers).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganstudio.upscaler import SCALE, Upscaler, UpscalerConfig, UpscalerNet

STATE_FILE = "state.safetensors"


@dataclass
class UpscaleTraining:
    l1_steps: int = 3000  # pixel loss only
    gan_steps: int = 1500  # then pixel + GAN loss
    batch: int = 16
    crop: int = 32  # low-resolution crop side (the target is 4× that)
    low: int = 64  # the inputs' render size: 64 (a 64 → 256 upscaler) or 16 (a cascade's 16 → 64 upsampler)
    lr: float = 2e-4
    gan_weight: float = 0.01  # the GAN term's weight beside L1 (weight 1)
    noise: float = 0.03  # the largest noise std added to half the inputs (G's outputs are not clean renders)
    seed: int = 0
    checkpoint_every: int = 250


class PatchDiscriminator(nn.Module):
    """Real/fake logits per patch of a 4×-size crop: strided convs with spectral norm."""

    def __init__(self, channels: int, width: int = 32) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        widths = [channels, width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(widths, widths[1:], strict=False)):
            layers += [sn(nn.Conv2d(cin, cout, 3 if i == 0 else 4, 1 if i == 0 else 2, 1)), nn.LeakyReLU(0.2)]
        layers.append(sn(nn.Conv2d(widths[-1], 1, 3, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 1, H/8, W/8)


class Pairs:
    """Low- and high-resolution renders of the training drawings, composed (iconify.composed)."""

    def __init__(self, split: str = "train", low: int = 64) -> None:
        from ganstudio.data import iconify

        icons, self.low = iconify.rendered(low)
        _, self.high = iconify.rendered(low * SCALE, mmap=True)
        self.size = low
        held = iconify.heldout_pairs(icons)
        self.rows = np.array([i for i, icon in enumerate(icons) if iconify.split_of(icon, held) == split])
        self.icons = [icons[i] for i in self.rows]
        if not len(self.rows):
            raise ValueError(f"the colour corpus has no {split!r} drawings")

    def batch(self, size: int, crop: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(low (B, 4, crop, crop), high (B, 4, 4·crop, 4·crop)) in [-1, 1], random crops and flips."""
        from ganstudio.data.iconify import composed

        pick = torch.randint(len(self.rows), (size,), generator=generator).tolist()
        offsets = torch.randint(self.size - crop + 1, (size, 2), generator=generator).tolist()
        flips = torch.rand(size, generator=generator) < 0.5
        low, high = [], []
        for k, (y, x) in zip(pick, offsets, strict=True):
            row = int(self.rows[k])
            low.append(self.low[row, :, y : y + crop, x : x + crop])
            s = SCALE
            high.append(np.asarray(self.high[row, :, s * y : s * (y + crop), s * x : s * (x + crop)]))
        lo = composed(np.stack(low)).float() / 127.5 - 1
        hi = composed(np.stack(high)).float() / 127.5 - 1
        lo[flips], hi[flips] = lo[flips].flip(-1), hi[flips].flip(-1)
        return lo, hi


def sources(pairs) -> list[dict[str, str]]:
    """The sets the pairs came from, with licence and attribution (upscaler.json keeps them: an
    upscaler trained on CC BY-SA drawings passes their attribution on)."""
    from ganstudio.data import iconify

    names = sorted({icon.set for icon in getattr(pairs, "icons", [])})
    return [
        dict(zip(("set", "licence", "attribution"), (n, *iconify.licence(n)), strict=True)) for n in names
    ]


def relativistic(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The relativistic average loss for the side that wants `real` to look more real than `fake`."""
    ones, zeros = torch.ones_like(real), torch.zeros_like(fake)
    return (
        F.binary_cross_entropy_with_logits(real - fake.mean(), ones)
        + F.binary_cross_entropy_with_logits(fake - real.mean(), zeros)
    ) / 2


def save_state(out: Path, step: int, nets: dict[str, nn.Module], optims: dict, tc: UpscaleTraining) -> None:
    from ganstudio.data.packed import save_atomic
    from ganstudio.training.checkpoint import flatten_optimizer

    tensors, groups = {}, {}
    for name, net in nets.items():
        tensors.update({f"{name}.{k}": v.contiguous() for k, v in net.state_dict().items()})
    for name, optimizer in optims.items():
        flat, groups[name] = flatten_optimizer(f"opt_{name}", optimizer)
        tensors.update(flat)
    meta = {"step": str(step), "groups": json.dumps(groups), "training": json.dumps(asdict(tc))}
    save_atomic(tensors, out / STATE_FILE, metadata=meta)


def load_state(out: Path, nets: dict[str, nn.Module], optims: dict) -> int:
    from safetensors import safe_open

    from ganstudio.training.checkpoint import unflatten_optimizer
    from ganstudio.untrusted import read_safetensors

    path = out / STATE_FILE
    tensors = read_safetensors(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    try:
        step, groups = int(meta["step"]), json.loads(meta["groups"])
    except (KeyError, ValueError) as error:
        raise ValueError(f"{path}: not an upscaler training state ({error})") from None
    for name, net in nets.items():
        net.load_state_dict({k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + ".")})
    for name, optimizer in optims.items():
        optimizer.load_state_dict(unflatten_optimizer(f"opt_{name}", tensors, groups[name]))
    return step


def train_upscaler(
    out: str | Path,
    tc: UpscaleTraining | None = None,
    config: UpscalerConfig | None = None,
    pairs: Pairs | None = None,
    resume: bool = False,
    log=print,
) -> Upscaler:
    """Train (or with `resume`, continue) an upscaler in `out`; writes `upscaler.safetensors` and
    `upscaler.json` there at every checkpoint and at the end, and returns it."""
    tc, config = tc or UpscaleTraining(), config or UpscalerConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tc.seed)
    net, D = UpscalerNet(config), PatchDiscriminator(config.channels)
    opt_g = torch.optim.Adam(net.parameters(), lr=tc.lr, betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=tc.lr, betas=(0.9, 0.99))
    nets, optims = {"net": net, "D": D}, {"net": opt_g, "D": opt_d}
    step = 0
    if resume and (out / STATE_FILE).is_file():
        step = load_state(out, nets, optims)
        log(f"resumed at step {step}")
    pairs = pairs or Pairs(low=tc.low)
    if tc.crop > tc.low:
        raise ValueError(f"crop {tc.crop} is larger than the {tc.low}-px inputs")
    facts = {"trained_on": "builtin:emoji:train", "training": asdict(tc), "sources": sources(pairs)}
    total = tc.l1_steps + tc.gan_steps
    started, seen = time.perf_counter(), 0
    with open(out / "metrics.jsonl", "a") as metrics:
        while step < total:
            lo, hi = pairs.batch(tc.batch, tc.crop, torch.Generator().manual_seed(tc.seed * 1_000_003 + step))
            noisy = torch.rand(tc.batch, 1, 1, 1, generator=torch.Generator().manual_seed(step)) < 0.5
            sigma = (
                torch.rand(tc.batch, 1, 1, 1, generator=torch.Generator().manual_seed(step + 1))
                * tc.noise
                * 2
            )
            lo = torch.where(
                noisy,
                lo + sigma * torch.randn(lo.shape, generator=torch.Generator().manual_seed(step + 2)),
                lo,
            )
            sr = net(lo)
            losses = {"l1": F.l1_loss(sr, hi)}
            total_g = losses["l1"]
            if step >= tc.l1_steps:  # the GAN phase
                real_logits, fake_logits = D(hi), D(sr.detach())
                losses["loss_d"] = relativistic(real_logits, fake_logits)
                opt_d.zero_grad(set_to_none=True)
                losses["loss_d"].backward()
                opt_d.step()
                D.requires_grad_(False)
                losses["loss_g"] = relativistic(D(sr), D(hi).detach())
                D.requires_grad_(True)
                total_g = total_g + tc.gan_weight * losses["loss_g"]
            opt_g.zero_grad(set_to_none=True)
            total_g.backward()
            opt_g.step()
            step += 1
            seen += tc.batch
            if step % 50 == 0 or step == total:
                rate = seen / (time.perf_counter() - started)
                row = {
                    "step": step,
                    "pairs_per_s": round(rate, 1),
                    **{k: round(v.item(), 5) for k, v in losses.items()},
                }
                metrics.write(json.dumps(row) + "\n")
                metrics.flush()
                log(" ".join(f"{k} {v}" for k, v in row.items()))
            if step == tc.l1_steps and tc.gan_steps:  # the pixel-loss model, kept for the bench
                Upscaler(net, {}).save(out / "l1", **facts, steps=step)
                net.train()
            if step % tc.checkpoint_every == 0 or step == total:
                save_state(out, step, nets, optims, tc)
                Upscaler(net, {}).save(out, **facts, steps=step)
                net.train()
    return Upscaler(net.eval(), {"trained_on": "builtin:emoji:train", "steps": step})
