"""Data-parallel training on torch.distributed, launched by torchrun (one process per GPU, or
per CPU socket with gloo): `torchrun --nproc-per-node N -m ganstudio train ...`.

How a step is shared (the StyleGAN3 way rather than a `DistributedDataParallel` wrapper):
- every rank draws the *global* batch's indices, conditions and latents from the same seeded
  generator and keeps its slice (`Batch.shard`), so the data order does not depend on the rank
  count and a run resumes with a different one;
- after each backward the gradients are averaged over ranks in one flat all-reduce
  (`average_gradients`) and every rank takes the same optimizer step, so weights, Adam moments
  and G_ema stay identical without broadcasting them. DDP's reducer needs exactly one forward
  per backward and no double backward; D runs two or three forwards per step (reals, fakes,
  mismatched pairs) and R1/R2 differentiate through its gradients, which a hand-placed
  all-reduce serves and DDP does not;
- rank 0 alone writes checkpoints, samples, logs and the lock; all ranks read the checkpoint
  to resume (for multi-node runs the run folder is on shared storage).

BatchNorm statistics are per rank (each rank's slice), as in single-node multi-GPU DCGAN
practice; batch size and learning rates are stated for the global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "cpu"  # where the small collectives' tensors live (the GPU under NCCL)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def average_gradients(self, module: nn.Module) -> None:
        """Average the gradients of `module` over ranks (one flat all-reduce)."""
        if not self.distributed:
            return
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            return
        for p in params:  # a term one rank's slice did not use (e.g. no mismatched pair) adds zero
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for p in params:
            n = p.grad.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n

    def mean_values(self, values: dict[str, float], keys: tuple[str, ...]) -> dict[str, float]:
        """Each logged value's mean over the ranks that have it (`keys`: every name a rank may
        log, in one order), so every rank sees the same numbers and stops on the same NaN."""
        if not self.distributed:
            return values
        sums = torch.tensor([[values.get(k, 0.0), float(k in values)] for k in keys], dtype=torch.float64)
        sums = sums.to(self.device)
        dist.all_reduce(sums)
        return {
            k: float(total / count)
            for k, (total, count) in zip(keys, sums.tolist(), strict=True)
            if count > 0
        }

    def agree(self, stop: bool, t: float) -> tuple[bool, float]:
        """Whether any rank wants to stop (a stop request, the time limit), and the furthest
        training fraction `t` of any rank: the same on every rank, so all leave the loop at one
        step and follow the same learning-rate and penalty schedules."""
        if not self.distributed:
            return stop, t
        value = torch.tensor([1.0 if stop else 0.0, t], dtype=torch.float64, device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value[0].item() > 0), float(value[1].item())

    def broadcast_choice(self, choice: str, options: tuple[str, ...]) -> str:
        """Rank 0's choice among `options` on every rank (e.g. the run's precision)."""
        if not self.distributed:
            return choice
        value = torch.tensor([options.index(choice)], device=self.device)
        dist.broadcast(value, src=0)
        return options[int(value.item())]

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def world_from_env() -> World:
    """The process's place in a torchrun launch (RANK, WORLD_SIZE, LOCAL_RANK); one process
    without them. Initialises the process group on first use: NCCL on GPUs, gloo on CPUs."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend)
    device = f"cuda:{local}" if dist.get_backend() == "nccl" else "cpu"
    return World(rank=rank, size=size, local_rank=local, device=device)


def device_for(world: World, device: torch.device) -> torch.device:
    """Each rank's own GPU (LOCAL_RANK) when training on CUDA."""
    if device.type == "cuda" and world.distributed:
        return torch.device("cuda", world.local_rank)
    return device


def check_batch(batch: int, world: World) -> int:
    """The per-rank batch: the global `train.batch` split evenly over ranks."""
    if batch % world.size:
        raise ValueError(
            f"train.batch {batch} (the global batch) does not split over {world.size} processes; "
            f"use a multiple of {world.size}"
        )
    return batch // world.size
