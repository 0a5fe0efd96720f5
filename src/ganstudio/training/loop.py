"""The training loop, to read top to bottom: set up, then per step draw a batch, run G once,
step D (`d_step`), step G (`g_step`), update G_ema; log, sample, score and checkpoint on
schedule. The step's parts are in steps.py.

Before G_ema samples or is saved, its BatchNorm statistics (if it has any) are re-estimated for
its own weights. Every random draw comes from one seeded torch.Generator whose state is
checkpointed, so a resumed run reproduces a straight run bit for bit (CPU, same thread count).
"""

from __future__ import annotations

import copy
import math
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganstudio import modelfolder
from ganstudio.conditioning.coverage import build as coverage_bank
from ganstudio.config import Config
from ganstudio.data.packed import PackedDataset
from ganstudio.data.sketches import dataset_sketches
from ganstudio.devices import resolve_device, resolve_precision
from ganstudio.imaging import make_grid, to_pil
from ganstudio.modelfolder import Card, describe_prior, load_label_prior, write_json
from ganstudio.models import build_models
from ganstudio.models.layers import recalibrate_batchnorm
from ganstudio.provenance import save_png
from ganstudio.provenance.nearcopy import NearCopyIndex
from ganstudio.training.checkpoint import (
    RunState,
    find_checkpoint,
    holding_run_lock,
    load_for_finetuning,
    resume_from,
    save_checkpoint,
)
from ganstudio.training.conditions import TrainingText, cond_spec, dataset_conditions, grid_conditions
from ganstudio.training.distributed import check_batch, device_for, world_from_env
from ganstudio.training.events import MetricsLogger
from ganstudio.training.prior import fit_label_prior, wants_prior
from ganstudio.training.steps import LOSS_NAMES, Steps, TrainingData, ema_beta, update_ema

SMALL_DATASET = 30_000  # augmentation "auto" turns on below this many images
GRID_SEED = 20241


class TrainingDiverged(RuntimeError):
    """A loss became NaN or inf; the message names the last good checkpoint and likely fixes."""


@dataclass
class Progress:
    step: int
    kimg: float
    total_kimg: float | None
    fraction: float
    img_per_s: float
    elapsed_s: float
    eta_s: float | None
    losses: dict[str, float] = field(default_factory=dict)


@holding_run_lock
def train(
    config: Config,
    dataset: PackedDataset,
    run_dir: str | Path,
    kimg: float | None = None,
    minutes: float | None = None,
    resume: bool = False,
    device: str = "auto",
    progress_fn: Callable[[Progress], None] | None = None,
    abort_fn: Callable[[], bool] | None = None,
    eval_fn: Callable[[torch.nn.Module], float | Mapping[str, float]] | None = None,
    eval_every_kimg: float = 0.0,
    command: str | None = None,
    log_fn: Callable[[str], None] | None = None,
    init_from: str | Path | None = None,
) -> Path:
    """Train G and D on `dataset` until `kimg` thousand images or `minutes` of training.

    Writes checkpoints, samples, metrics.jsonl and TensorBoard events into `run_dir` and
    returns the final checkpoint folder (a loadable model folder). With `eval_fn` (G_ema → a
    score, lower is better, or a dict with "score" and other measures to log) every
    `eval_every_kimg`, the best-scoring checkpoint is kept in `run_dir/best`. `init_from` (a
    model, run folder or bundled name) starts a new run from trained weights (fine-tuning;
    ignored when resuming). Models with classes and text or sketches also get a label prior
    (fitted first, `train.prior_kimg`; see conditioning/prior.py), saved in every checkpoint;
    `log_fn` hears how that goes. One process trains into a run folder at a time (`RunLock`).

    Launched by torchrun, every process runs this function on its share of each global batch
    (distributed.py); rank 0 alone writes into `run_dir` and calls the callbacks.
    """
    if (kimg is None) == (minutes is None):
        raise ValueError("give exactly one of kimg or minutes for the training length")
    run_dir = Path(run_dir)
    world = world_from_env()
    check_batch(config.train.batch, world)
    if world.is_main:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    else:
        progress_fn = log_fn = None
    tc, dev = config.train, device_for(world, resolve_device(device))
    memory = torch.channels_last if tc.channels_last else torch.contiguous_format

    # Networks, conditions and optimizers.
    text = TrainingText.load(dataset, config.model.text_encoder)
    sketches = dataset_sketches(dataset) if config.model.sketch else None  # (N, 1, R, R) uint8
    spec = cond_spec(
        dataset,
        text.encoder if text else "",
        text.embeddings.shape[1] if text else 0,
        sketches,
        attributes=tc.attribute_drop < 1,  # always dropped: nothing to learn, so not a condition
    )
    with torch.random.fork_rng(devices=[]):  # seeded init, without touching the caller's RNG
        torch.manual_seed(tc.seed)
        G, D = build_models(config.model, dataset.resolution, dataset.channels, spec)
    G, D = G.to(dev, memory_format=memory), D.to(dev, memory_format=memory)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_G = torch.optim.Adam(G.parameters(), lr=tc.lr_g.start, betas=(tc.beta1, tc.beta2))
    opt_D = torch.optim.Adam(D.parameters(), lr=tc.lr_d.start, betas=(tc.beta1, tc.beta2))
    nets, optimizers = {"G": G, "D": D, "G_ema": G_ema}, {"opt_G": opt_G, "opt_D": opt_D}
    rng = torch.Generator().manual_seed(tc.seed)

    # Resume or fine-tune; the precision is the one the run started with.
    state = RunState()
    checkpoint = find_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise ValueError(
            f"--resume: no checkpoint in {run_dir}; start without --resume to train from scratch"
        )
    if checkpoint is not None:
        checkpoint, saved, rng_state = resume_from(run_dir, nets, optimizers, log_fn)
        state = RunState.from_counters(saved)
        rng.set_state(rng_state)
    elif init_from is not None:
        fresh = load_for_finetuning(init_from, nets)
        if log_fn is not None:
            log_fn(f"starting from {init_from}" + (f"; new, untrained: {', '.join(fresh)}" if fresh else ""))
    state.precision = world.broadcast_choice(
        state.precision or resolve_precision(tc.precision, dev), ("bf16", "fp32")
    )
    machine = _machine(dev, state.precision)
    dataset_info = dataset.describe()
    dataset_info["text_encoder"] = spec.text_encoder or None
    label_prior = None
    if tc.prior_kimg > 0 and wants_prior(spec):
        source = checkpoint if checkpoint is not None else _same_data_source(init_from, dataset_info)
        label_prior = load_label_prior(source, spec) if source is not None else None
        if label_prior is None:
            label_prior = fit_label_prior(
                dataset, spec, text, sketches, tc.prior_kimg, tc.seed, log_fn, abort_fn
            )
        if log_fn is not None:
            log_fn(f"label prior: {describe_prior(label_prior.report)}")
    if log_fn is not None:
        log_fn(
            f"conditions: {'text via ' + spec.text_encoder if spec.has_text else 'no text'}; "
            f"sketches {'on' if spec.has_sketch else 'off (model.sketch=true / --sketch turns them on)'}; "
            f"precision {state.precision}"
        )
    if world.is_main:
        write_json(run_dir / "resolved_config.json", config.to_dict())
    # the training set's near-copy index, saved in every checkpoint: generation checks each image
    # against it (a second or two for 60k images; calibrated leave-one-out, see nearcopy.py)
    nearcopy = NearCopyIndex.build(dataset.images) if world.is_main and len(dataset) > 1 else None
    coverage = (
        coverage_bank(dataset.captions, text.table.texts, text.embeddings) if text is not None else None
    )

    data = TrainingData(
        dataset.images.to(dev),  # (N, C, H, W) uint8, decoded once
        dataset_conditions(dataset, spec).to(dev),
        text,
        sketches.to(dev) if sketches is not None else None,
        tc,
        config.model.z_dim,
        memory,
    )
    steps = Steps(G, D, opt_G, opt_D, tc, dev, state.precision, spec.has_text or spec.has_sketch, world)
    use_augment = tc.augment == "on" or (tc.augment == "auto" and len(dataset) < SMALL_DATASET)
    grid_cond = grid_conditions(spec, text).to(dev)
    grid_z = torch.randn(
        len(grid_cond), config.model.z_dim, generator=torch.Generator().manual_seed(GRID_SEED)
    )
    logger = MetricsLogger(run_dir) if world.is_main else None
    total_images = None if kimg is None else kimg * 1000
    next_sample = _next_multiple(state.images, tc.sample_every_kimg * 1000)
    next_checkpoint = _next_multiple(state.images, tc.checkpoint_every_kimg * 1000)
    eval_every = eval_every_kimg * 1000 if eval_fn is not None and eval_every_kimg > 0 else math.inf
    next_eval = _next_multiple(state.images, eval_every) if eval_every < math.inf else math.inf
    last_good = checkpoint
    window_start, window_images = time.perf_counter(), 0
    session_start, session_elapsed0 = time.perf_counter(), state.elapsed_s
    ema_ready_at = -1  # the step G_ema's statistics were last re-estimated at

    def fraction() -> float:
        return state.images / total_images if total_images is not None else state.elapsed_s / (minutes * 60)

    def ready_ema() -> None:
        """G_ema's BatchNorm statistics for its own weights, on conditions drawn as in training,
        before it samples or is saved (a separate generator keeps the training RNG untouched);
        once per step, however many of sampling, scoring and saving follow."""
        nonlocal ema_ready_at
        if ema_ready_at != state.step:
            ema_ready_at = state.step
            g = torch.Generator().manual_seed(tc.seed + state.step)
            recalibrate_batchnorm(G_ema, lambda n: data.sample_conditions(n, g), seed=tc.seed + state.step)

    def save(name: str = "checkpoint") -> Path:
        ready_ema()
        card = Card(
            kimg=state.kimg,
            minutes=state.elapsed_s / 60,
            machine=machine,
            command=command,
            label_prior=label_prior.report if label_prior else None,
        )
        counters = state.to_counters(machine, command)
        return save_checkpoint(
            run_dir,
            config,
            spec,
            nets,
            optimizers,
            counters,
            rng.get_state(),
            dataset_info,
            card,
            name,
            label_prior,
            (nearcopy, coverage),
        )

    def write_samples() -> None:
        ready_ema()
        with torch.no_grad():
            fake = G_ema(grid_z.to(dev), grid_cond)
        grid = make_grid(to_pil(fake), columns=8, scale=2)
        record = {"model": str(run_dir), "kimg": round(state.kimg, 1), "seed": GRID_SEED}
        save_png(grid, run_dir / "samples" / f"grid-{int(state.kimg):06d}kimg.png", record)
        save_png(grid, run_dir / "samples" / "latest.png", record)
        logger.image(state.step, "samples", grid)

    while True:
        # every rank stops at the same step and follows the same schedules (rank clocks differ)
        done, t = world.agree(fraction() >= 1.0 or (abort_fn is not None and abort_fn()), fraction())
        if done:
            break
        for group in opt_G.param_groups:
            group["lr"] = tc.lr_g.at(t)
        for group in opt_D.param_groups:
            group["lr"] = tc.lr_d.at(t)
        gamma, p_aug = tc.gamma.at(t), (tc.augment_p.at(t) if use_augment else 0.0)
        regularise = gamma > 0 and state.step % tc.reg_every == 0

        batch = data.batch(tc.batch, steps.global_pairs, rng, state.images).shard(world, steps.global_pairs)
        fake = steps.generate(batch)  # one G forward per step
        losses = steps.d_step(batch, fake, gamma, regularise, p_aug, rng)
        losses |= steps.g_step(batch, fake, p_aug, rng)
        state.step += 1
        state.images += tc.batch
        update_ema(G_ema, G, ema_beta(tc, t, state.images))

        values = world.mean_values({k: v.item() for k, v in losses.items()}, LOSS_NAMES)
        if not all(math.isfinite(v) for v in values.values()):
            where = (
                f"the last good checkpoint is {last_good}" if last_good else "no checkpoint was written yet"
            )
            raise TrainingDiverged(
                f"training diverged at step {state.step} ({state.kimg:.1f} kimg): "
                f"{', '.join(f'{k}={v}' for k, v in values.items())}. {where}. Likely fixes: lower the "
                "learning rates (train.lr_g, train.lr_d), raise train.gamma, or use train.precision=fp32; "
                "then --resume continues from the checkpoint."
            )
        state.elapsed_s = session_elapsed0 + time.perf_counter() - session_start
        window_images += tc.batch
        if not world.is_main:
            continue  # rank 0 logs, samples, scores and saves
        if state.step % tc.log_every_steps == 0 or fraction() >= 1.0:
            now = time.perf_counter()
            rate = window_images / max(now - window_start, 1e-9)
            window_start, window_images = now, 0
            logger.log(
                state.step,
                {
                    "kimg": state.kimg,
                    "img_per_s": rate,
                    "lr_g": tc.lr_g.at(t),
                    "gamma": gamma,
                    "augment_p": p_aug,
                    "elapsed_s": state.elapsed_s,  # training time (start-up work is not counted)
                }
                | values,
            )
            if progress_fn is not None:
                remaining = (
                    (total_images - state.images) / rate if total_images else minutes * 60 - state.elapsed_s
                )
                progress_fn(
                    Progress(
                        state.step,
                        state.kimg,
                        kimg,
                        min(fraction(), 1.0),
                        rate,
                        state.elapsed_s,
                        max(remaining, 0.0),
                        values,
                    )
                )
        if state.images >= next_sample:
            write_samples()
            next_sample += tc.sample_every_kimg * 1000
        if state.images >= next_eval:
            ready_ema()
            result = eval_fn(G_ema)
            measures = dict(result) if isinstance(result, Mapping) else {"score": result}
            score = float(measures.pop("score"))
            logger.log(
                state.step,
                {"kimg": state.kimg, "eval_score": score, **{f"eval_{k}": v for k, v in measures.items()}},
            )
            if state.best_score is None or score < state.best_score:
                state.best_score, state.best_kimg = score, state.kimg
                save("best")
            next_eval += eval_every
        if state.images >= next_checkpoint:
            last_good = save()
            next_checkpoint += tc.checkpoint_every_kimg * 1000

    if not world.is_main:
        world.barrier()  # until rank 0 has written the final checkpoint
        return run_dir / "checkpoint"
    write_samples()
    logger.close()
    final = save()
    world.barrier()
    return final


def _same_data_source(init_from: str | Path | None, dataset_info: dict) -> Path | None:
    """The model folder a fine-tune starts from, when it was trained on the same data (same
    fingerprint): its label prior then fits as is and is not fitted again."""
    if init_from is None:
        return None
    folder, _ = modelfolder.resolve(init_from)
    try:
        source = modelfolder.read_dataset_info(folder)
    except (OSError, ValueError):
        return None
    return folder if source.get("fingerprint") == dataset_info.get("fingerprint") else None


def _next_multiple(value: float, every: float) -> float:
    return (math.floor(value / every) + 1) * every


def _machine(device: torch.device, precision: str) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
    return f"{name}, {precision}, torch {torch.__version__}"
