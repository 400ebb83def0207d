"""The training loop: AdamW with warm-up and cosine decay, gradient clipping, optional bf16
autocast, EMA and torch.compile, atomic checkpoints every ``save_every`` steps, exact resume, and
DDP under torchrun (gloo on CPU, nccl on GPU; only rank 0 writes).

A run folder holds ``model.safetensors`` (what ``hinr upscale --weights RUN/`` loads),
``trainer_state.safetensors``, ``checkpoint.json`` (the manifest, published last: see
:mod:`hinr.train.manifest`), ``train_config.json``, ``metrics.jsonl``, ``metrics.png`` and
``.lock`` (one training per folder: see :mod:`hinr.train.lock`). Resuming drops metrics rows past
the resumed step. A non-finite loss or gradient stops training with TrainingDivergedError before
the weights are touched, so the last checkpoint stays the last good one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..atomic import atomic_write
from ..store.checkpoint import WEIGHTS_NAME, load_model, read_config, save_model
from ..config import ModelConfig, preset
from ..coords import cell_size, index_centre
from ..device import resolve_device
from ..errors import CheckpointError, HinrError, HinrUsageError
from ..models.hinr import HINR
from ..evaluation.metrics import psnr_from_mse
from ..inference.ensemble import Dihedral, transforms
from ..layers.bicubic import pil_bicubic
from ..precision import autocast, resolve_precision
from .config import TrainConfig, check_input_size
from .lock import LOCK_NAME, RunLock, holds_only_lock
from .manifest import MANIFEST_NAME, plan_resume, publish_manifest
from .plot import plot_metrics
from .samples import batch_for_step, build_train_data, source_images
from .state import STATE_NAME, TrainStateError, load_state, read_state_step, save_state

logger = logging.getLogger(__name__)
CONFIG_NAME = "train_config.json"
METRICS_NAME = "metrics.jsonl"


STALL_STEPS = 5  # steps with an exactly zero loss or gradient that stop a training


class TrainingStalledError(HinrError):
    """The first steps learnt nothing (zero loss or zero gradients); exit 1."""


class TrainingDivergedError(HinrError):
    """The loss or the gradient became NaN or Inf; the weights were not updated with it."""


def psnr(mse: float) -> float:
    """PSNR of a training MSE, capped at 120 dB (an exact match would be +inf in the metrics)."""
    return psnr_from_mse(max(mse, 1e-12))


def lr_factor(step: int, *, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up to 1, then cosine down to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        skip = p.ndim < 2 or getattr(p, "_no_weight_decay", False) or "lp_tokens" in name
        (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: str | Path, *, resume: bool = False,
                 on_status: Callable[[str], None] | None = None) -> None:
        """Prepare a run in ``run_dir`` (new, or ``resume``); ``on_status`` hears what is being
        loaded (e.g. "loading 47 photos from …") for the CLI to show."""
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = resolve_device(cfg.device)
        # the one resolution of the training precision (bf16 with --bf16, and always on CUDA)
        self.precision = resolve_precision("bf16" if cfg.bf16 or self.device.type == "cuda" else "fp32",
                                           self.device)
        self._lock: RunLock | None = None
        self._stop_requested = False
        self.saved_step: int | None = None  # the step of the last checkpoint on disk
        self._steps_taken = self._dead_steps = 0  # for _check_learning
        created = not self.run_dir.exists()
        self._new_run, self._created = not resume, created
        if resume and not (self.run_dir / STATE_NAME).is_file():
            raise HinrUsageError(f"{self.run_dir} holds no {STATE_NAME}: nothing to resume; pass a run "
                                 "folder made by hinr train")
        if self.is_main:
            self._lock = RunLock(self.run_dir)  # before anything is read or written there
        try:
            if self.is_main and not resume and not holds_only_lock(self.run_dir):
                raise HinrUsageError(f"{self.run_dir} exists and is not empty: choose another --out, "
                                     "or --resume it")
            self._setup(resume, on_status)
        except BaseException:
            self._release()
            if created and self.is_main:  # leave no trace of a run that never started
                (self.run_dir / LOCK_NAME).unlink(missing_ok=True)
                try:
                    self.run_dir.rmdir()
                except OSError:
                    pass
            raise

    def _model_config(self, resume: bool) -> ModelConfig | None:
        """The config of a model that started from --init-from, from a weights header: when
        resuming, the run's own weights (the --init-from file may be gone, as on a fresh machine
        resuming a committed run), else --init-from's. None for a model that train_config.json
        describes (preset and overrides)."""
        if not self.cfg.init_from:
            return None
        own = self.run_dir / WEIGHTS_NAME
        if resume and own.is_file():
            try:
                return read_config(own)
            except CheckpointError:  # damaged mid-save: the resume republishes it from the state
                pass
        return read_config(self.cfg.init_from)

    def _setup(self, resume: bool, on_status: Callable[[str], None] | None) -> None:
        cfg = self.cfg
        if self.world > 1 and not dist.is_initialized():
            if self.device.type == "cuda":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                torch.cuda.set_device(local)
                self.device = torch.device("cuda", local)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        model_config = self._model_config(resume)  # from a header, before any data loads
        if model_config is not None:
            check_input_size(cfg.input_size, model_config)
        # data first: a missing dataset must fail before anything is written
        self.train_data, self.val = build_train_data(cfg, on_status=on_status)
        if cfg.epochs is not None:
            cfg.steps = max(1, math.ceil(cfg.epochs * source_images(self.train_data)
                                         / (cfg.batch_size * self.world)))

        torch.manual_seed(cfg.seed)
        if model_config is None:
            self.model = HINR(preset(cfg.preset, arch=cfg.arch, **cfg.model_overrides))
        elif resume:
            self.model = HINR(model_config)  # every weight comes from the state below
        else:
            self.model = load_model(cfg.init_from)
        self.model.to(self.device)
        self.ema = ({k: v.detach().clone() for k, v in self.model.state_dict().items()}
                    if cfg.ema > 0 else None)
        self.optimizer = torch.optim.AdamW(_param_groups(self.model, cfg.weight_decay), lr=cfg.lr,
                                           betas=(0.9, 0.99), eps=cfg.adam_eps)
        self.step = 0
        repair = False
        if resume:
            state_path = self.run_dir / STATE_NAME
            state_step = read_state_step(state_path)
            plan = plan_resume(self.run_dir, state_name=STATE_NAME, state_step=state_step,
                               weights_name=WEIGHTS_NAME)
            self.step, _ = load_state(state_path, model=self.model, optimizer=self.optimizer,
                                      ema=self.ema, config_name=CONFIG_NAME)
            if self.step != plan.step:
                raise TrainStateError(f"{state_path} changed while it was being read: retry")
            repair = plan.repair and self.is_main
            self.saved_step = self.step
        self.net = self.model
        if cfg.compile:
            # compile in place: the parameter names (and so the checkpoints) stay the same
            self.model.decoder.compile()
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model)
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(self.run_dir / CONFIG_NAME)
            metrics = self.run_dir / METRICS_NAME
            kept = [r for r in read_records(metrics) if r.get("step", 0) <= self.step] if resume else []
            text = "".join(json.dumps(r) + "\n" for r in kept)
            atomic_write(metrics, lambda tmp: Path(tmp).write_text(text), overwrite=True,
                         what="training metrics")
            if repair:
                logger.warning("%s: %s; rewriting its checkpoint from the trainer state at step %d",
                               self.run_dir, plan.reason, self.step)
                self.save()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _autocast(self):
        """bf16 autocast with --bf16 and always on CUDA (the scan stays fp32), else nothing."""
        return autocast(self.precision, self.device)

    def train_step(self) -> dict:
        cfg = self.cfg
        batch = batch_for_step(self.train_data, seed=cfg.seed, step=self.step, rank=self.rank,
                               batch_size=cfg.batch_size)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * lr_factor(self.step, warmup=cfg.warmup, total=cfg.steps,
                                             min_ratio=cfg.min_lr_ratio)
        coords, target, cell = batch["coords"], batch["target"], batch["cell"]
        q = coords.shape[1]
        if cfg.recon_weight > 0:
            # add the input's own pixel centres as queries, each with its own cell size
            recon = _random_pixels(batch["input"], q // 4, seed=(cfg.seed, self.step, self.rank))
            coords = torch.cat([coords, recon[0]], dim=1)
            target = torch.cat([target, recon[1]], dim=1)
            cell = torch.cat([cell.unsqueeze(1).expand(-1, q, -1),
                              cell_size(*batch["input"].shape[-2:], device=cell.device)
                              .expand_as(recon[0])], dim=1)
        views = [(batch["input"], coords, cell)]
        if cfg.consistency > 0:  # the same samples turned or mirrored: one symmetry per step
            turn = _symmetry(cfg.seed, self.step, self.rank)
            views.append((turn.apply(batch["input"]), turn.point(coords), turn.cell(cell)))
        with self._autocast():
            preds = [self.net(*view).float() for view in views]
        errs = [(pred - target).pow(2) for pred in preds]
        loss = errs[0][:, :q].mean()
        total = sum(_view_loss(err, q, cfg.recon_weight) for err in errs) / len(errs)
        if cfg.consistency > 0:
            total = total + cfg.consistency * (preds[0] - preds[1]).pow(2).mean()
        self._check_finite(total, "loss")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
        self._check_finite(grad_norm, "gradient norm")
        self._check_learning(loss, grad_norm)
        self.optimizer.step()
        if self.ema is not None:
            with torch.no_grad():
                for name, value in self.model.state_dict().items():
                    if value.dtype.is_floating_point:
                        self.ema[name].lerp_(value, 1.0 - cfg.ema)
                    else:
                        self.ema[name].copy_(value)
        self.step += 1
        return {"step": self.step, "loss": loss.item(), "psnr": psnr(loss.item()),
                "grad_norm": float(grad_norm), "lr": self.optimizer.param_groups[0]["lr"]}

    def _check_learning(self, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """TrainingStalledError when the loss, or every gradient, is exactly zero for each of the
        first ``STALL_STEPS`` steps this process trains: the output already equals its target (or
        nothing reaches the weights), so running on would write a model that learnt nothing."""
        if self._steps_taken >= STALL_STEPS:
            return
        self._steps_taken += 1
        dead = float(loss.detach()) == 0.0 or float(grad_norm) == 0.0
        self._dead_steps += int(dead)
        if self._steps_taken == STALL_STEPS and self._dead_steps == STALL_STEPS:
            what = "loss" if float(loss.detach()) == 0.0 else "gradient of every weight"
            raise TrainingStalledError(
                f"training cannot learn: the {what} was exactly zero for the first {STALL_STEPS} "
                "steps, so the model's output already equals its target; check the recipe (e.g. "
                "no --residual at scale 1) and the data")

    def _check_finite(self, value: torch.Tensor, what: str) -> None:
        """TrainingDivergedError (on every rank at once) when ``value`` is NaN or Inf."""
        bad = (~torch.isfinite(value.detach().float())).float().reshape(1)
        if self.world > 1:
            dist.all_reduce(bad)
        if bad.item() > 0:
            kept = (f"the last good checkpoint (step {self.saved_step}) is kept in {self.run_dir}"
                    if self.saved_step is not None else "no checkpoint was written yet")
            raise TrainingDivergedError(
                f"training diverged at step {self.step + 1}: the {what} is NaN or Inf (lr "
                f"{self.optimizer.param_groups[0]['lr']:.3g}); lower --lr or raise --warmup; {kept}")

    @torch.no_grad()
    def validate(self) -> dict:
        """Mean PSNR over the validation list (and bicubic's, for super-resolution sets)."""
        if not self.val:
            return {}
        model = self._eval_model()
        scores, bicubic = [], []
        for item in self.val:
            images = item["input"].unsqueeze(0).to(self.device)
            h, w = item["size"].tolist()
            with self._autocast():
                out = model.render(model.encode(images), h, w)
            out = out.float().cpu()[0].permute(1, 2, 0).reshape(-1, 3)
            scores.append(psnr(F.mse_loss(out, item["target"]).item()))
            if (h, w) != tuple(images.shape[-2:]):  # super-resolution: bicubic beside
                base = pil_bicubic(images.cpu(), item["coords"].unsqueeze(0), item["cell"])[0]
                bicubic.append(psnr(F.mse_loss(base.clamp(0, 1), item["target"]).item()))
        result = {"val_psnr": sum(scores) / len(scores)}
        if bicubic:
            result["val_bicubic_psnr"] = sum(bicubic) / len(bicubic)
        return result

    def _eval_model(self) -> HINR:
        if self.ema is None:
            return self.model.eval()
        model = HINR(self.model.config).to(self.device)
        model.load_state_dict(self.ema)
        return model.eval()

    def save(self) -> None:
        """Write the weights, then the trainer state, then publish the manifest naming both."""
        if not self.is_main:
            return
        weights = self._eval_model()
        save_model(weights, self.run_dir / WEIGHTS_NAME, overwrite=True,
                   extra_metadata={"train_step": str(self.step), "train_data": data_name(self.cfg.data)})
        save_state(self.run_dir / STATE_NAME, model=self.model, optimizer=self.optimizer,
                   ema=self.ema, step=self.step)
        publish_manifest(self.run_dir, step=self.step, files=[WEIGHTS_NAME, STATE_NAME])
        self.saved_step = self.step
        self.model.train()

    def fit(self, on_step: Callable[[dict], None] | None = None) -> dict:
        """Train to ``cfg.steps``; ``on_step`` gets each step's metrics (for progress bars)."""
        try:
            return self._fit(on_step)
        except BaseException:
            self._discard_unsaved()
            raise
        finally:
            self._release()  # training is over: the folder is free again

    def _discard_unsaved(self) -> None:
        """A new run that fails before its first checkpoint leaves nothing behind (not a folder
        that can be neither reused nor resumed): its own files go, and the folder if it made it."""
        if not self.is_main or self.saved_step is not None or not self._new_run:
            return
        for name in (CONFIG_NAME, METRICS_NAME, "metrics.png", WEIGHTS_NAME, STATE_NAME,
                     MANIFEST_NAME):
            (self.run_dir / name).unlink(missing_ok=True)
        self._release()
        (self.run_dir / LOCK_NAME).unlink(missing_ok=True)
        if self._created:
            try:
                self.run_dir.rmdir()
            except OSError:
                pass  # something else is there: leave it

    def _fit(self, on_step: Callable[[dict], None] | None) -> dict:
        cfg = self.cfg
        self.model.train()
        last: dict = {}
        metrics_file = self.run_dir / METRICS_NAME
        records = read_records(metrics_file) if self.is_main else []
        tick, images_done = time.perf_counter(), 0
        while self.step < cfg.steps:
            last = self.train_step()
            images_done += cfg.batch_size * self.world
            last["images_per_s"] = images_done / max(1e-9, time.perf_counter() - tick)
            if self.step % cfg.val_every == 0 or self.step == cfg.steps:
                last.update(self.validate())
                self.model.train()
            if self.is_main:
                records.append(last)
                with metrics_file.open("a") as f:
                    f.write(json.dumps(last) + "\n")
                if self.step % cfg.save_every == 0 or self.step == cfg.steps:
                    self._checkpoint(records)
            if on_step is not None:
                on_step(last)
            if self._stop_requested:  # stopped from outside: checkpoint this step and return
                if self.is_main and self.saved_step != self.step:
                    self._checkpoint(records)
                break
        return last

    def _checkpoint(self, records: list[dict]) -> None:
        self.save()
        plot_metrics(records, self.run_dir / "metrics.png")

    def request_stop(self) -> None:
        """Finish the current step, checkpoint it and return from ``fit`` (safe to call from a
        signal handler: see ``hinr.train.stopping``), so a stopped run loses no steps."""
        self._stop_requested = True

    @property
    def stopped_early(self) -> bool:
        """Whether ``fit`` returned on ``request_stop`` before ``cfg.steps``."""
        return self._stop_requested and self.step < self.cfg.steps

    def close(self) -> None:
        self._release()
        if self.world > 1 and dist.is_initialized():
            dist.barrier()  # a rank tearing down while its peer still talks can abort gloo's thread
            dist.destroy_process_group()


def _view_loss(err: torch.Tensor, q: int, recon_weight: float) -> torch.Tensor:
    """One view's loss from its squared errors (B, q + r, 3): the mean over the q HR queries, plus
    ``recon_weight`` times the mean over the r reconstruction queries of the input's own pixels."""
    main = err[:, :q].mean()
    return main + recon_weight * err[:, q:].mean() if recon_weight > 0 else main


def _symmetry(seed: int, step: int, rank: int) -> Dihedral:
    """The symmetry (never the identity) of step ``step``'s second view, a function of the seed
    and step alone, so a resumed run draws what it would have."""
    return transforms(8)[int(np.random.default_rng((seed, step, rank, 5)).integers(1, 8))]


def _random_pixels(images: torch.Tensor, k: int, *, seed: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """k random pixel centres of each input (B, 3, h, w) and their exact colours: (B, k, 2), (B, k, 3)."""
    b, _, h, w = images.shape
    gen = torch.Generator().manual_seed(hash(seed) % (2**62))
    flat = torch.randint(0, h * w, (b, k), generator=gen).to(images.device)
    rows, cols = flat // w, flat % w
    coords = torch.stack([index_centre(cols, w), index_centre(rows, h)], dim=-1).float()
    pixels = images.permute(0, 2, 3, 1).reshape(b, h * w, 3)
    return coords, torch.gather(pixels, 1, flat.unsqueeze(-1).expand(-1, -1, 3))


def read_records(path: Path) -> list[dict]:
    """The rows of metrics.jsonl; a line cut short by a kill is skipped."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            records.append(row)
    return records


def data_name(data: str) -> str:
    """What the weights' metadata records of the training data: ``cifar10``, or a folder's own
    name — not its path, which would publish the trainer's directory layout with the weights."""
    return data if data == "cifar10" else (Path(data).name or str(data))
