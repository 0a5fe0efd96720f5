"""How conditions steer w: guidance (further along the direction the conditions move w) and
negative prompts (away from what they name). One home for both, used by the pipeline."""

from __future__ import annotations

import torch

from ganstudio.conditioning.cond import Cond


def guided_map(G: torch.nn.Module, z: torch.Tensor, cond: Cond, guidance: float) -> torch.Tensor:
    """w (B, w_dim) for latents z and conditions. `guidance` > 1 pushes w further along the
    direction the conditions move it: w_free + guidance * (w - w_free), where w_free is the same z
    with the label, attributes and prompt left out (the model learnt that case from condition
    dropout). 1 = the plain model; the sketch enters synthesis and is not scaled."""
    w = G.map(z, cond)
    steering = cond.label_mask | cond.attribute_mask.any(dim=1) | cond.text_mask
    if guidance != 1.0 and bool(steering.any()):
        free = Cond.for_spec(G.spec, len(cond), z.device)
        free.sketch, free.sketch_mask = cond.sketch, cond.sketch_mask
        w = torch.lerp(G.map(z, free), w, guidance)
    return w


def steered_map(
    G: torch.nn.Module,
    z: torch.Tensor,
    cond: Cond,
    guidance: float,
    negative: Cond | None = None,
    strength: float = 0.0,
) -> torch.Tensor:
    """`guided_map`, then pushed away from a negative prompt's map (conditions row for row):
    w + strength · (map(cond) − map(negative)), as diffusion pipelines put a negative prompt in
    place of the unconditional branch. A row whose negative is its own cond is unchanged."""
    w = guided_map(G, z, cond, guidance)
    if negative is not None and strength:
        w = w + strength * (G.map(z, cond) - G.map(z, negative))
    return w
