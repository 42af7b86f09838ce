"""What a training run tells the world: console lines and a progress bar (:mod:`mlip.utils.console`),
metrics.csv and wandb.

Only rank 0 logs. wandb is offline unless the config says otherwise and never prompts: any
failure to start it is a warning, never the end of a run.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from pathlib import Path

from mlip.train.config import TrainConfig, WandbConfig
from mlip.utils import write_text_atomic
from mlip.utils.console import console, progress_bar

__all__ = ["WandbRun", "console", "epoch_line", "progress_bar", "write_metrics_csv"]


def write_metrics_csv(path: str | Path, history: list[dict]) -> None:
    """The whole history each epoch (atomic), so a resumed run's CSV is complete and consistent."""
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(path, buf.getvalue())


class WandbRun:
    """A thin guard around wandb: offline by default, silent, resumable by id."""

    def __init__(self, config: WandbConfig, out_dir: Path, run_config: dict, run_id: str | None):
        self.run = None
        self.run_id = run_id or secrets.token_hex(4)  # not `random`: a resume must not shift RNG state
        if not config.enabled or config.mode == "disabled":
            return
        try:
            os.environ.setdefault("WANDB_SILENT", "true")
            import wandb

            self.run = wandb.init(
                project=config.project, entity=config.entity, name=config.name, tags=config.tags,
                mode=config.mode, dir=str(out_dir), config=run_config, id=self.run_id, resume="allow",
                settings=wandb.Settings(silent=True, console="off"),
            )
        except Exception as exc:  # wandb must never end a training run
            console.print(f"[yellow]warning:[/] wandb not started ({type(exc).__name__}: {exc}); continuing without it")
            self.run = None

    def log(self, metrics: dict, step: int) -> None:
        if self.run is not None:
            self.run.log(metrics, step=step)

    def summary(self, values: dict) -> None:
        if self.run is not None:
            self.run.summary.update(values)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


def epoch_line(row: dict) -> str:
    parts = [f"epoch {row['epoch']:>4d}", f"loss {row['train_loss']:.4g}", f"val {row['val_loss']:.4g}"]
    for key, label, unit in (("val_energy_mae_per_atom", "E", "meV/at"), ("val_force_mae", "F", "meV/Å")):
        if row.get(key) is not None:
            parts.append(f"{label} {1000 * row[key]:.1f} {unit}")
    parts.append(f"lr {row['lr']:.2e}")
    parts.append(f"{row['epoch_time_s']:.1f}s")
    return "  ".join(parts)


def run_config_for_wandb(config: TrainConfig) -> dict:
    return config.model_dump(mode="json")
