"""The training loop: one function to read top to bottom.

Each step runs G once: D learns from the detached fakes (the configured loss plus lazy R1/R2),
then G from the updated D's verdict on the same fakes, as DCGAN trains; then the EMA generator
is updated. Before G_ema samples or is saved, its BatchNorm statistics (if it has any) are
re-estimated for its own weights. Every random draw comes from one seeded torch.Generator whose
state is checkpointed, so a resumed run reproduces a straight run bit for bit (CPU, same
thread count).
"""

from __future__ import annotations

import copy
import json
import math
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganstudio.conditioning.sketch import roughen
from ganstudio.config import Config
from ganstudio.data.packed import PackedDataset
from ganstudio.data.sketches import dataset_sketches
from ganstudio.imaging import make_grid, to_pil
from ganstudio.losses import diversity_loss, get_loss, gradient_penalty
from ganstudio.models import build_models
from ganstudio.models.layers import recalibrate_batchnorm
from ganstudio.provenance import save_png
from ganstudio.training.card import model_card
from ganstudio.training.checkpoint import (
    find_checkpoint,
    load_for_finetuning,
    load_training_state,
    model_folder,
    save_checkpoint,
    write_json,
)
from ganstudio.training.conditions import (
    TrainingText,
    augment_pair,
    cond_spec,
    dataset_conditions,
    grid_conditions,
    mismatched,
)
from ganstudio.training.devices import autocast, resolve_device, resolve_precision
from ganstudio.training.events import MetricsLogger
from ganstudio.training.prior import describe_prior, fit_label_prior, load_label_prior, wants_prior

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
    model or run folder) starts a new run from trained weights (fine-tuning; ignored when
    resuming). Models with classes and text or sketches also get a
    label prior (fitted first, `train.prior_kimg`; see conditioning/prior.py), saved in every
    checkpoint; `log_fn` hears how that goes.
    """
    if (kimg is None) == (minutes is None):
        raise ValueError("give exactly one of kimg or minutes for the training length")
    run_dir = Path(run_dir)
    (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    tc, dev = config.train, resolve_device(device)
    precision = resolve_precision(tc.precision, dev)
    memory = torch.channels_last if tc.channels_last else torch.contiguous_format
    text = TrainingText.load(dataset, config.model.text_encoder)
    sketches = dataset_sketches(dataset) if config.model.sketch else None  # (N, 1, R, R) uint8
    spec = cond_spec(dataset, text.encoder if text else "", text.embeddings.shape[1] if text else 0, sketches)
    with torch.random.fork_rng(devices=[]):  # seeded init, without touching the caller's RNG
        torch.manual_seed(tc.seed)
        G, D = build_models(config.model, dataset.resolution, dataset.channels, spec)
    G, D = G.to(dev, memory_format=memory), D.to(dev, memory_format=memory)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_G = torch.optim.Adam(G.parameters(), lr=tc.lr_g.start, betas=(tc.beta1, tc.beta2))
    opt_D = torch.optim.Adam(D.parameters(), lr=tc.lr_d.start, betas=(tc.beta1, tc.beta2))
    loss_d_fn, loss_g_fn, g_needs_real = get_loss(tc.loss)
    rng = torch.Generator().manual_seed(tc.seed)
    nets, optimizers = {"G": G, "D": D, "G_ema": G_ema}, {"opt_G": opt_G, "opt_D": opt_D}
    counters = {
        "step": 0,
        "images": 0,
        "elapsed_s": 0.0,
        "kimg": 0.0,
        "machine": _machine(dev, precision),
        "best_score": None,
        "best_kimg": None,
        "command": command,
    }
    dataset_info = dataset.describe()
    dataset_info["text_encoder"] = spec.text_encoder or None
    checkpoint = find_checkpoint(run_dir) if resume else None
    if resume and checkpoint is None:
        raise ValueError(
            f"--resume: no checkpoint in {run_dir}; start without --resume to train from scratch"
        )
    if checkpoint is not None:
        saved, rng_state = load_training_state(checkpoint, nets, optimizers)
        counters.update(
            {k: saved.get(k) for k in ("step", "images", "elapsed_s", "kimg", "best_score", "best_kimg")}
        )
        rng.set_state(rng_state)
    elif init_from is not None:
        fresh = load_for_finetuning(Path(init_from), nets)
        if log_fn is not None:
            log_fn(f"starting from {init_from}" + (f"; new, untrained: {', '.join(fresh)}" if fresh else ""))
    label_prior = None
    if tc.prior_kimg > 0 and wants_prior(spec):
        source = checkpoint if checkpoint is not None else _same_data_source(init_from, dataset_info)
        label_prior = load_label_prior(source, spec) if source is not None else None
        if label_prior is None:
            label_prior = fit_label_prior(dataset, spec, text, sketches, tc.prior_kimg, tc.seed, log_fn)
        if log_fn is not None:
            log_fn(f"label prior: {describe_prior(label_prior.report)}")
    write_json(run_dir / "resolved_config.json", config.to_dict())

    images = dataset.images.to(dev)  # (N, C, H, W) uint8, decoded once
    conditions = dataset_conditions(dataset, spec).to(dev)
    sketches = sketches.to(dev) if sketches is not None else None
    use_augment = tc.augment == "on" or (tc.augment == "auto" and len(dataset) < SMALL_DATASET)
    grid_cond = grid_conditions(spec, text).to(dev)
    grid_z = torch.randn(
        len(grid_cond), config.model.z_dim, generator=torch.Generator().manual_seed(GRID_SEED)
    )
    logger = MetricsLogger(run_dir)
    batch = tc.batch
    total_images = None if kimg is None else kimg * 1000
    next_sample = _next_multiple(counters["images"], tc.sample_every_kimg * 1000)
    next_checkpoint = _next_multiple(counters["images"], tc.checkpoint_every_kimg * 1000)
    eval_every = eval_every_kimg * 1000 if eval_fn is not None and eval_every_kimg > 0 else math.inf
    next_eval = _next_multiple(counters["images"], eval_every) if eval_every < math.inf else math.inf
    last_good = checkpoint
    window_start, window_images = time.perf_counter(), 0
    session_start, session_elapsed0 = time.perf_counter(), counters["elapsed_s"]

    aux = getattr(D, "aux_class", None) is not None or getattr(D, "aux_text", None) is not None
    # captions and sketches nearly fix the image: those models get the matching-aware D term and the
    # diversity term; class-only models skip both
    strong_conditions = spec.has_text or spec.has_sketch
    half = batch // 2 if tc.diversity > 0 and strong_conditions else 0  # see fake_cond below

    def d_out(images: torch.Tensor, cond) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's logits, and its features when the auxiliary heads need them."""
        return D(images, cond, return_features=True) if aux else (D(images, cond), None)

    def draw_conditions(index: torch.Tensor, generator: torch.Generator):
        """The conditions of images `index`: all of them, those left after dropout, and the
        index of each row's sampled caption (or None without text)."""
        cond = conditions.select(index)
        captions = text.fill(cond, index, generator) if text is not None else None
        if sketches is not None:
            cond.sketch = roughen(sketches[index].float() / 255, generator)  # (B, 1, R, R)
            cond.sketch_mask = torch.ones(len(index), dtype=torch.bool, device=dev)
        dropped = cond.drop(tc.cond_drop, generator, tc.attribute_drop, tc.text_drop, tc.sketch_drop)
        return cond, dropped, captions

    ema_ready_at = [-1]  # the step G_ema's statistics were last re-estimated at

    def ready_ema() -> None:
        """G_ema's BatchNorm statistics for its own weights, on conditions drawn as in training,
        before it samples or is saved (a separate generator keeps the training RNG untouched);
        once per step, however many of sampling, scoring and saving follow."""
        if ema_ready_at[0] == counters["step"]:
            return
        ema_ready_at[0] = counters["step"]
        g = torch.Generator().manual_seed(tc.seed + counters["step"])

        def draw(n: int):
            return draw_conditions(torch.randint(len(dataset), (n,), generator=g).to(dev), g)[1]

        recalibrate_batchnorm(G_ema, draw, seed=tc.seed + counters["step"])

    def fraction() -> float:
        if total_images is not None:
            return counters["images"] / total_images
        return counters["elapsed_s"] / (minutes * 60)

    def save(name: str = "checkpoint") -> Path:
        ready_ema()
        card = model_card(config, dataset_info, counters, label_prior.report if label_prior else None)
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
        )

    def write_samples() -> None:
        ready_ema()
        with torch.no_grad():
            fake = G_ema(grid_z.to(dev), grid_cond)
        grid = make_grid(to_pil(fake), columns=8, scale=2)
        record = {"model": str(run_dir), "kimg": round(counters["kimg"], 1), "seed": GRID_SEED}
        save_png(grid, run_dir / "samples" / f"grid-{int(counters['kimg']):06d}kimg.png", record)
        save_png(grid, run_dir / "samples" / "latest.png", record)

    while fraction() < 1.0:
        if abort_fn is not None and abort_fn():
            break
        t = fraction()
        for group in opt_G.param_groups:
            group["lr"] = tc.lr_g.at(t)
        for group in opt_D.param_groups:
            group["lr"] = tc.lr_d.at(t)
        gamma, p_aug = tc.gamma.at(t), (tc.augment_p.at(t) if use_augment else 0.0)

        index = torch.randint(len(dataset), (batch,), generator=rng).to(dev)
        real = (images[index].float() / 127.5 - 1).contiguous(memory_format=memory)  # (B, C, H, W)
        # full: every condition known for these reals (the auxiliary heads learn from it)
        full, cond, captions = draw_conditions(index, rng)
        # with the diversity term, the two halves of the fakes share conditions: each pair shows
        # what z changes (the reals keep their own, so D still sees a whole batch of them)
        fake_cond = cond.select(torch.arange(batch, device=dev) % half) if half else cond
        z = torch.randn(batch, config.model.z_dim, generator=rng).to(dev)

        # One G forward per step, as DCGAN trains: D learns from the detached fakes, then G from
        # the updated D's verdict on the same fakes.
        with autocast(dev, precision):
            fake = G(z, fake_cond)  # (B, C, H, W)

        # D step: reals and fakes of the same conditions, plus lazy R1 (reals) and R2 (fakes).
        regularise = gamma > 0 and counters["step"] % tc.reg_every == 0
        real_in, cond_real = augment_pair(real, cond, tc.augment_policy, p_aug, rng)
        fake_in, cond_fake = augment_pair(fake.detach().float(), fake_cond, tc.augment_policy, p_aug, rng)
        real_in = real_in.detach().requires_grad_(regularise)
        fake_in = fake_in.detach().requires_grad_(regularise)
        with autocast(dev, precision):
            (real_logits, real_features), fake_logits = d_out(real_in, cond_real), D(fake_in, cond_fake)
        loss_d = loss_d_fn(real_logits.float(), fake_logits.float())
        loss_total = loss_d
        loss_aux_d = D.aux_loss(real_features, full) if aux else None
        if loss_aux_d is not None:
            loss_total = loss_total + tc.aux * loss_aux_d
        loss_mismatch = None
        if tc.mismatch > 0 and strong_conditions:
            wrong, differs = mismatched(cond_real, captions)
            if bool(differs.any()):
                with autocast(dev, precision):
                    wrong_logits = D(real_in[differs], wrong.select(differs))
                loss_mismatch = loss_d_fn(real_logits[differs].float(), wrong_logits.float())
                loss_total = loss_total + tc.mismatch * loss_mismatch
        if regularise:
            r1, r2 = gradient_penalty(real_logits, real_in), gradient_penalty(fake_logits, fake_in)
            loss_total = loss_total + (gamma / 2) * tc.reg_every * (r1 + r2)
        opt_D.zero_grad(set_to_none=True)
        loss_total.backward()
        opt_D.step()

        # G step on the same fakes; a relativistic loss also needs the reals' logits.
        D.requires_grad_(False)  # D's weight gradients are not needed here: skip computing them
        with autocast(dev, precision):
            fake_logits, fake_features = d_out(
                *augment_pair(fake.float(), fake_cond, tc.augment_policy, p_aug, rng)
            )
            real_logits = None
            if g_needs_real:
                with torch.no_grad():
                    real_logits = D(*augment_pair(real, cond, tc.augment_policy, p_aug, rng)).float()
        loss_g = loss_g_fn(real_logits, fake_logits.float())
        loss_aux_g = D.aux_loss(fake_features, fake_cond) if aux else None
        if loss_aux_g is not None:
            loss_g = loss_g + tc.aux * loss_aux_g
        loss_diversity = None
        if half:
            loss_diversity = diversity_loss(
                fake[:half], fake[half : 2 * half], z[:half], z[half : 2 * half], tc.diversity_cap
            )
            loss_g = loss_g + tc.diversity * loss_diversity
        opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_G.step()
        D.requires_grad_(True)

        # EMA generator, half-life in images, ramped up early in training.
        counters["step"] += 1
        counters["images"] += batch
        counters["kimg"] = counters["images"] / 1000
        ema_images = min(tc.ema_kimg.at(t) * 1000, counters["images"] * tc.ema_rampup)
        beta = 0.5 ** (batch / max(ema_images, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
                p_ema.lerp_(p, 1 - beta)
            for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
                b_ema.copy_(b)

        losses = {"loss_d": loss_d.item(), "loss_g": loss_g.item()}
        if regularise:
            losses.update(r1=r1.item(), r2=r2.item())
        if loss_mismatch is not None:
            losses["loss_mismatch"] = loss_mismatch.item()
        if loss_diversity is not None:
            losses["loss_diversity"] = loss_diversity.item()
        if loss_aux_d is not None:
            losses["loss_aux_d"] = loss_aux_d.item()
        if loss_aux_g is not None:
            losses["loss_aux_g"] = loss_aux_g.item()
        if not all(math.isfinite(v) for v in losses.values()):
            where = (
                f"the last good checkpoint is {last_good}" if last_good else "no checkpoint was written yet"
            )
            raise TrainingDiverged(
                f"training diverged at step {counters['step']} ({counters['kimg']:.1f} kimg): "
                f"{', '.join(f'{k}={v}' for k, v in losses.items())}. {where}. Likely fixes: lower the "
                "learning rates (train.lr_g, train.lr_d), raise train.gamma, or use train.precision=fp32; "
                "then --resume continues from the checkpoint."
            )
        counters["elapsed_s"] = session_elapsed0 + time.perf_counter() - session_start
        window_images += batch
        if counters["step"] % tc.log_every_steps == 0 or fraction() >= 1.0:
            now = time.perf_counter()
            rate = window_images / max(now - window_start, 1e-9)
            window_start, window_images = now, 0
            logger.log(
                counters["step"],
                {
                    "kimg": counters["kimg"],
                    "img_per_s": rate,
                    "lr_g": tc.lr_g.at(t),
                    "gamma": gamma,
                    "augment_p": p_aug,
                    **losses,
                },
            )
            if progress_fn is not None:
                f = min(fraction(), 1.0)
                remaining = (
                    (total_images - counters["images"]) / rate
                    if total_images
                    else minutes * 60 - counters["elapsed_s"]
                )
                progress_fn(
                    Progress(
                        counters["step"],
                        counters["kimg"],
                        kimg,
                        f,
                        rate,
                        counters["elapsed_s"],
                        max(remaining, 0.0),
                        losses,
                    )
                )
        if counters["images"] >= next_sample:
            write_samples()
            next_sample += tc.sample_every_kimg * 1000
        if counters["images"] >= next_eval:
            ready_ema()
            result = eval_fn(G_ema)
            measures = dict(result) if isinstance(result, Mapping) else {"score": result}
            score = float(measures.pop("score"))
            logger.log(
                counters["step"],
                {
                    "kimg": counters["kimg"],
                    "eval_score": score,
                    **{f"eval_{k}": v for k, v in measures.items()},
                },
            )
            if counters["best_score"] is None or score < counters["best_score"]:
                counters["best_score"], counters["best_kimg"] = score, counters["kimg"]
                save("best")
            next_eval += eval_every
        if counters["images"] >= next_checkpoint:
            last_good = save()
            next_checkpoint += tc.checkpoint_every_kimg * 1000

    write_samples()
    return save()


def _same_data_source(init_from: str | Path | None, dataset_info: dict) -> Path | None:
    """The model folder a fine-tune starts from, when it was trained on the same data (same
    fingerprint): its label prior then fits as is and is not fitted again."""
    if init_from is None:
        return None
    folder = model_folder(Path(init_from))
    try:
        source = json.loads((folder / "dataset.json").read_text())
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
