"""GAN losses as pure functions of discriminator logits, plus the gradient penalties."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ganstudio.registry import LOSSES


def rpgan_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Relativistic pairing loss for D (Jolicoeur-Martineau 2018; Huang et al. 2024)."""
    return F.softplus(fake_logits - real_logits).mean()


def rpgan_g(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Relativistic pairing loss for G: each fake should score above its paired real."""
    return F.softplus(real_logits - fake_logits).mean()


def nonsaturating_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The original GAN loss for D (Goodfellow et al. 2014), as DCGAN trains it."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def nonsaturating_g(real_logits: torch.Tensor | None, fake_logits: torch.Tensor) -> torch.Tensor:
    del real_logits  # the non-saturating G loss only looks at fakes
    return F.softplus(-fake_logits).mean()


def hinge_d(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge loss for D (Lim & Ye 2017; as SN-GAN and BigGAN train): reals above +1, fakes below -1."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_g(real_logits: torch.Tensor | None, fake_logits: torch.Tensor) -> torch.Tensor:
    del real_logits
    return -fake_logits.mean()


def gradient_penalty(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Zero-centred gradient penalty E‖∇ₓD(x)‖²: R1 on reals (Mescheder et al. 2018), R2 on fakes.

    `inputs` must require grad and `logits` be computed from them; the graph is kept so the
    penalty itself can be back-propagated.
    """
    (grad,) = torch.autograd.grad(logits.float().sum(), inputs, create_graph=True)
    return grad.float().square().sum(dim=(1, 2, 3)).mean()


def diversity_loss(
    a: torch.Tensor, b: torch.Tensor, za: torch.Tensor, zb: torch.Tensor, cap: float = 0.5
) -> torch.Tensor:
    """Diversity-sensitive term (Yang et al. 2019, DSGAN; Mao et al. 2019, MSGAN): minus how far
    apart two images of the same conditions are per unit of z distance, capped so it cannot
    grow without bound. Minimising it keeps G from ignoring z."""
    dx = (a.float() - b.float()).abs().mean(dim=(1, 2, 3))  # (B/2,)
    dz = (za - zb).abs().mean(dim=1)  # (B/2,)
    return -(dx / dz.clamp_min(1e-6)).clamp(max=cap).mean()


# (D loss, G loss, whether the G loss reads the reals' logits: the loop skips that D pass if not)
LOSSES.register("rpgan")((rpgan_d, rpgan_g, True))
LOSSES.register("nonsaturating")((nonsaturating_d, nonsaturating_g, False))
LOSSES.register("hinge")((hinge_d, hinge_g, False))


def get_loss(name: str):
    """(d_loss, g_loss, g_needs_real) for a loss name; unknown names list the valid ones."""
    return LOSSES.get(name)
