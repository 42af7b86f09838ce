"""The training loop: ``train(config, resume=False)``.

One epoch = one pass over the training set in global batches (order from seed + epoch), then a
validation pass with the EMA weights, a checkpoint (``checkpoints/last.pt``, and ``best.pt`` when
the validation loss improves) and a metrics row. The monitored validation loss is the weighted
MSE under the *first-stage* loss weights, so it stays comparable when the late stage starts.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from mlip.errors import UserError
from mlip.data.graph import collate
from mlip.model.io import load_potential
from mlip.model.output import energy_forces_stress
from mlip.train import distributed as D
from mlip.train.checkpoint import load_resume_checkpoint, rng_state, save_checkpoint, set_rng_state
from mlip.train.config import TrainConfig, dump_config
from mlip.train.data import load_splits, make_graphs, make_loader
from mlip.train.ema import ExponentialMovingAverage
from mlip.train.logging import WandbRun, epoch_line, write_metrics_csv
from mlip.utils.console import console, progress_bar
from mlip.train.loss import TERMS, loss_terms, stage_weights, weighted_loss
from mlip.train.metrics import (E_SQ, F_SQ, N_E, N_F, N_S, N_SUMS, S_SQ, frame_error_sums, metrics_by_config_type,
                                metrics_from_sums, predict)
from mlip.train.plots import learning_curve, parity_plots
from mlip.train.setup import build_optimizer, build_potential, wrap_distributed
from mlip.utils import provenance, seed_everything, write_json_atomic

# keys that may change between a run and its resumption (budgets, logging, hardware)
RESUMABLE_CHANGES = {"max_epochs", "max_time_minutes", "patience", "wandb", "device", "eval_batch_size", "out_dir"}


def train(config: TrainConfig, resume: bool = False) -> dict:
    """Train (or resume) the run described by ``config``; returns the summary (rank 0) or {}."""
    info = D.setup(config.device)
    try:
        return Trainer(config, info, resume).run()
    finally:
        D.teardown(info)


def _check_resumable(config: TrainConfig, saved: dict, where: str) -> None:
    now = config.model_dump(mode="json")
    try:  # keys added to the config since the checkpoint was written take their defaults
        saved = TrainConfig.model_validate(saved).model_dump(mode="json")
    except Exception:  # noqa: BLE001 - an unreadable saved config is compared as it is
        pass
    free = RESUMABLE_CHANGES | ({"model"} if config.init_from else set())  # fine-tuning: model from init_from
    for key in sorted(set(now) | set(saved)):
        if key not in free and now.get(key) != saved.get(key):
            raise UserError(f"config key {key!r} differs from the checkpoint's; resume with the same config "
                            f"(only {', '.join(sorted(RESUMABLE_CHANGES))} may change)", where)


class Trainer:
    def __init__(self, config: TrainConfig, info: D.DistInfo, resume: bool):
        self.info = info
        self.out = Path(config.out_dir)
        self.last_path, self.best_path = self.out / "checkpoints" / "last.pt", self.out / "checkpoints" / "best.pt"
        state = self._resume_state(config) if resume else None
        if state is None and self.last_path.exists():
            raise UserError("this run folder already holds a checkpoint: pass --resume or choose another out_dir",
                            "out_dir")
        if config.batch_size % info.world_size:
            raise UserError(f"batch_size {config.batch_size} is not divisible by the {info.world_size} processes", "batch_size")
        seed_everything(config.seed)
        self.splits = load_splits(config.data, config.seed)
        self.model, self.stats, self.config = build_potential(config, self.splits.train, state)
        self.dtype = next(self.model.parameters()).dtype
        self.model.to(info.device)
        self.net = wrap_distributed(self.model, info)
        self._make_loaders()
        self.optimizer, self.schedule = build_optimizer(self.model, self.config, len(self.loader))
        self.ema = ExponentialMovingAverage(self.model, self.config.ema_decay) if self.config.ema_decay else None
        self.epoch = self.step = self.bad_epochs = 0
        self.stage, self.elapsed, self.best, self.best_epoch = 1, 0.0, math.inf, 0
        self.history: list[dict] = []
        self.wandb_id = None
        if state is not None:
            self._restore(state)

    def _resume_state(self, config: TrainConfig) -> dict:
        state, resumed_from = load_resume_checkpoint(self.last_path)
        _check_resumable(config, state["config"], str(resumed_from))
        return state

    def _make_loaders(self) -> None:
        info, species, cutoff = self.info, list(self.model.species), float(self.model.cutoff)
        train_graphs = make_graphs(self.splits.train, species, cutoff)
        self.val_graphs = make_graphs(self.splits.val, species, cutoff)[info.rank::info.world_size]
        self.loader = make_loader(train_graphs, self.config.batch_size, self.config.seed, True, info.rank, info.world_size)

    # -- checkpoints ---------------------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "model": self.model.to_state(),
            "ema": self.ema.model.to_state() if self.ema else None,
            "ema_updates": self.ema.num_updates if self.ema else 0,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.schedule.state_dict(),
            "epoch": self.epoch, "step": self.step, "stage": self.stage, "elapsed_s": self.elapsed,
            "best_metric": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
            "history": self.history, "statistics": self.stats, "wandb_id": self.wandb_id,
            "rng": rng_state(), "config": self.config.model_dump(mode="json"),
        }

    def _restore(self, s: dict) -> None:
        if self.ema:
            self.ema.model.load_state_dict(s["ema"]["state_dict"])
            self.ema.num_updates = int(s["ema_updates"])
        self.optimizer.load_state_dict(s["optimizer"])
        self.schedule.load_state_dict(s["scheduler"])
        self.epoch, self.step, self.stage, self.elapsed = int(s["epoch"]), int(s["step"]), int(s["stage"]), float(s["elapsed_s"])
        self.best, self.best_epoch, self.bad_epochs = float(s["best_metric"]), int(s["best_epoch"]), int(s["bad_epochs"])
        self.history, self.wandb_id = list(s["history"]), s.get("wandb_id")
        set_rng_state(s["rng"])

    # -- one epoch -----------------------------------------------------------------------------
    def _progress(self) -> float:
        c = self.config
        frac = self.epoch / c.max_epochs
        if c.max_time_minutes:
            frac = max(frac, self.elapsed / (60 * c.max_time_minutes))
        return frac

    def _out_of_time(self, started: float) -> bool:
        if not self.config.max_time_minutes:
            return False
        over = torch.tensor([float(self.elapsed + time.perf_counter() - started >= 60 * self.config.max_time_minutes)])
        return bool(D.all_sum(over, self.info).item() > 0)

    def train_epoch(self, progress, task) -> float:
        stage, weights = stage_weights(self.config.loss, self._progress())
        if stage != self.stage:
            self.stage = stage
            if self.config.loss.late_stage.lr_factor:
                self.schedule.scale(self.config.loss.late_stage.lr_factor)
        self.model.train()
        self.loader.batch_sampler.set_epoch(self.epoch)
        started, total, n_steps = time.perf_counter(), torch.zeros((), dtype=torch.float64), 0
        kind, delta = self.config.loss.kind, self.config.loss.huber_delta
        for graph in self.loader:
            graph = graph.to(device=self.info.device, dtype=self.dtype)
            pred = energy_forces_stress(self.net, graph, training=True)
            terms = loss_terms(pred, graph, kind, delta)
            counts = D.all_sum(torch.tensor([float(terms[t][1]) if t in terms else 0.0 for t in TERMS]), self.info)
            loss = weighted_loss(terms, dict(zip(TERMS, counts.tolist())), weights)
            self.optimizer.zero_grad(set_to_none=True)
            (loss * self.info.world_size).backward()  # DDP averages gradients over ranks
            if self.config.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
            self.optimizer.step()
            self.schedule.step()
            if self.ema:
                self.ema.update(self.model)
            self.step += 1
            n_steps += 1
            total += loss.detach().double().cpu()
            progress.update(task, advance=1, info=f"loss {loss.item() * self.info.world_size:.4g}")
            if self._out_of_time(started):
                break
        return float(D.all_sum(total.reshape(1), self.info).item()) / max(n_steps, 1)

    def validate(self) -> tuple[float, dict]:
        model = self.ema.model if self.ema else self.model
        model.eval()
        sums = torch.zeros(N_SUMS, dtype=torch.float64)
        bs = self.config.eval_batch_size
        for k in range(0, len(self.val_graphs), bs):
            graph = collate(self.val_graphs[k:k + bs]).to(device=self.info.device, dtype=self.dtype)
            pred = energy_forces_stress(model, graph, training=False)
            sums += frame_error_sums(pred, graph).sum(0).cpu()
        sums = D.all_sum(sums, self.info)
        w = self.config.loss.weights
        loss = sum(wt * sums[sq].item() / sums[n].item() for wt, sq, n in
                   ((w.energy, E_SQ, N_E), (w.forces, F_SQ, N_F), (w.stress, S_SQ, N_S)) if sums[n] > 0 and wt > 0)
        return float(loss), metrics_from_sums(sums)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> dict:
        c, main = self.config, self.info.is_main
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            dump_config(c, self.out / "config.yaml")
        wb = WandbRun(c.wandb, self.out, c.model_dump(mode="json"), self.wandb_id) if main else None
        self.wandb_id = wb.run_id if wb else None
        stop = "max_epochs"
        with progress_bar(main) as progress:
            epochs = progress.add_task("epochs", total=c.max_epochs, completed=self.epoch, info="")
            while self.epoch < c.max_epochs:
                if self._out_of_time(time.perf_counter()):
                    stop = "max_time"
                    break
                task = progress.add_task(f"epoch {self.epoch + 1}", total=len(self.loader), info="")
                t0 = time.perf_counter()
                train_loss = self.train_epoch(progress, task)
                progress.remove_task(task)
                val_loss, val = self.validate()
                self.epoch += 1
                # the budget counts training and validation; ranks agree on it (stage, stopping)
                self.elapsed = D.all_max(self.elapsed + time.perf_counter() - t0, self.info)
                row = {"epoch": self.epoch, "step": self.step, "stage": self.stage, "lr": self.optimizer.param_groups[0]["lr"],
                       "train_loss": train_loss, "val_loss": val_loss,
                       **{f"val_{k}": v for k, v in val.items() if k != "n_frames"},
                       "epoch_time_s": time.perf_counter() - t0, "elapsed_s": self.elapsed}
                self.schedule.epoch_end(val_loss)
                improved = val_loss < self.best
                if improved:
                    self.best, self.best_epoch, self.bad_epochs = val_loss, self.epoch, 0
                else:
                    self.bad_epochs += 1
                self.history.append(row)
                if main:
                    state = self._state()
                    save_checkpoint(self.last_path, state, keep_previous=True)
                    if improved:
                        save_checkpoint(self.best_path, state)
                    write_metrics_csv(self.out / "metrics.csv", self.history)
                    wb.log({k: v for k, v in row.items() if v is not None}, step=self.step)
                    progress.console.print(epoch_line(row) + ("  *" if improved else ""), highlight=False, soft_wrap=True)
                progress.update(epochs, completed=self.epoch)
                D.barrier(self.info)
                if c.patience and self.bad_epochs >= c.patience:
                    stop = "early_stopping"
                    break
        summary = self.finish(stop, wb) if main else {}
        D.barrier(self.info)
        return summary

    def finish(self, stop: str, wb) -> dict:
        c = self.config
        best = load_potential(self.best_path if self.best_path.exists() else self.last_path)
        test_frames = self.splits.test or self.splits.val
        preds = predict(best, test_frames, batch_size=c.eval_batch_size, device=self.info.device)
        metrics = metrics_by_config_type(test_frames, preds)
        if self.history:
            learning_curve(self.history, self.out / "learning_curve.png")
        parity_plots(test_frames, preds, self.out)
        times = [r["epoch_time_s"] for r in self.history]
        summary = {
            "stopped_by": stop, "epochs": self.epoch, "steps": self.step, "best_epoch": self.best_epoch,
            "best_val_loss": self.best, "train_time_s": self.elapsed,
            "mean_epoch_time_s": sum(times) / len(times) if times else None,
            "test_split": "test" if self.splits.test else "val (no test set)",
            "test": metrics,
            "n_frames": {"train": len(self.splits.train), "val": len(self.splits.val), "test": len(self.splits.test)},
            "n_parameters": sum(p.numel() for p in self.model.parameters()),
            "statistics": self.stats, "world_size": self.info.world_size, "device": str(self.info.device),
            "checkpoint": str(self.best_path), "provenance": provenance(c.seed),
        }
        write_json_atomic(self.out / "summary.json", summary)
        if wb is not None:
            wb.summary({f"test_{k}": v for k, v in metrics.items() if k != "per_config_type" and v is not None})
            wb.finish()
        console.print(f"[bold green]done[/] ({stop}): best epoch {self.best_epoch}, run folder {self.out}")
        return summary
