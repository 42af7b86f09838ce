"""The training phase: the committee of an iteration on every label so far, deployed and tested.

``models/iter_NNN/member_i`` are ``mlip.train.committee`` runs (resumed member by member after a
stop), fine-tuned member by member from the previous committee (``training.mode: finetune``) or
trained from scratch; ``models/iter_NNN/committee.pt`` is the deployed committee; the test
errors are those of the committee's mean on the campaign's fixed held-out set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase import Atoms

from active_learning.campaign.config import CampaignConfig
from mlip.config import validate
from mlip.train.config import TrainConfig


def iteration_dir(campaign_dir: Path, iteration: int) -> Path:
    return Path(campaign_dir) / "models" / f"iter_{iteration:03d}"


def committee_path(campaign_dir: Path, iteration: int) -> Path:
    return iteration_dir(campaign_dir, iteration) / "committee.pt"


def member_checkpoint(campaign_dir: Path, iteration: int, member: int = 0) -> Path:
    from mlip.train.committee import best_checkpoint

    return best_checkpoint(iteration_dir(campaign_dir, iteration) / f"member_{member}")


def train_config(cfg: CampaignConfig, data_path: Path, iteration: int, out_dir: Path) -> TrainConfig:
    t = cfg.training
    raw: dict[str, Any] = {
        "batch_size": 4, "device": "cpu", **t.overrides.model_dump(),  # overrides: any key but SET_BY_CAMPAIGN
        "data": {"path": str(data_path), "split": [1.0 - t.val_fraction, t.val_fraction, 0.0],
                 "split_seed": cfg.seed, "species": cfg.species},
        "model": t.model,
        "max_epochs": t.initial_epochs if iteration == 0 else t.epochs,
        "max_time_minutes": t.max_time_minutes,
        "seed": cfg.seed + 1000 * iteration,
        "out_dir": str(out_dir),
        "wandb": {"enabled": False},
    }
    return validate(TrainConfig, raw, f"training (iteration {iteration})")


def train_iteration(cfg: CampaignConfig, campaign_dir: Path, iteration: int, frames: list[Atoms]) -> Path:
    """Write ``data/iter_NNN.extxyz``, train (or resume) the committee, deploy it; its path."""
    from mlip.data.readers import write_frames
    from mlip.deploy.exporter import export
    from mlip.train.committee import train_committee

    data_path = Path(campaign_dir) / "data" / f"iter_{iteration:03d}.extxyz"
    if not data_path.exists():  # written once (atomically): a resumed run trains on the same file
        write_frames(data_path, frames)
    out = iteration_dir(campaign_dir, iteration)
    config = train_config(cfg, data_path, iteration, out)
    init_from = None
    if iteration > 0 and cfg.training.mode == "finetune":
        init_from = [str(member_checkpoint(campaign_dir, iteration - 1, i)) for i in range(cfg.training.committee_size)]
    checkpoints = train_committee(config, cfg.training.committee_size, out, resume=True, init_from=init_from)
    return Path(export([str(p) for p in checkpoints], committee_path(campaign_dir, iteration)))


def test_metrics(model: Path, test_frames: list[Atoms]) -> dict:
    """Energy/force/stress errors of the deployed committee on the held-out frames."""
    if not test_frames:
        return {}
    from mlip.deploy import load_calculator
    from mlip.evaluate import evaluate_model

    metrics, _ = evaluate_model(load_calculator(str(model), device="cpu"), test_frames)
    return {k: v for k, v in metrics.items() if k != "per_config_type"}


__all__ = ["committee_path", "iteration_dir", "member_checkpoint", "test_metrics", "train_config", "train_iteration"]
