"""A committee of K potentials trained in one command: ``seimlip train CONFIG --committee K``.

Member ``i`` is the run of ``config`` with ``seed = config.seed + i`` (its own initial weights,
batch order and, for ``data.path`` without ``split_seed``, its own train/val split) in
``OUT/member_i``. Members are trained one after the other and resumed one by one: a member with
``summary.json`` is finished, one with ``checkpoints/last.pt`` continues from it, the others
start. Deploy the committee with ``mlip.deploy.export([best checkpoints], out)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mlip.errors import UserError
from mlip.train.checkpoint import previous_path
from mlip.train.loop import train
from mlip.train.config import TrainConfig, dump_config


def member_config(config: TrainConfig, i: int, out_dir: Path) -> TrainConfig:
    """The training config of committee member ``i``."""
    wandb = config.wandb.model_copy(update={"name": f"{config.wandb.name or out_dir.name}-member{i}"})
    return config.model_copy(update={"seed": config.seed + i, "out_dir": str(out_dir / f"member_{i}"),
                                     "wandb": wandb})


def member_status(out_dir: Path) -> str:
    """``done`` (summary.json written), ``started`` (a checkpoint) or ``new``."""
    if (out_dir / "summary.json").is_file():
        return "done"
    last = out_dir / "checkpoints" / "last.pt"
    if last.is_file() or previous_path(last).is_file():  # a resume falls back on the previous one
        return "started"
    return "new"


def best_checkpoint(out_dir: Path) -> Path:
    best = out_dir / "checkpoints" / "best.pt"
    return best if best.is_file() else out_dir / "checkpoints" / "last.pt"


def train_committee(config: TrainConfig, k: int = 4, out_dir: str | Path | None = None,
                    resume: bool = False, init_from: Sequence[str] | None = None) -> list[Path]:
    """Train ``k`` members of ``config`` into ``out_dir/member_i``; returns their best checkpoints.

    With ``resume`` finished members are kept and a started one continues from its last
    checkpoint; without it an out_dir that already holds members is a UserError. ``init_from``
    (one model per member) fine-tunes member i from ``init_from[i]``, e.g. the previous committee.
    """
    if k < 1:
        raise UserError(f"a committee needs at least one member, got {k}", "committee")
    out = Path(out_dir if out_dir is not None else config.out_dir)
    if init_from is not None and len(init_from) != k:
        raise UserError(f"init_from names {len(init_from)} models for {k} members", "committee")
    members = [member_config(config, i, out) for i in range(k)]
    if init_from is not None:
        members = [m.model_copy(update={"init_from": str(src)}) for m, src in zip(members, init_from)]
    states = [member_status(Path(m.out_dir)) for m in members]
    if not resume and any(s != "new" for s in states):
        raise UserError("this folder already holds committee members: pass --resume or choose another out_dir",
                        str(out))
    out.mkdir(parents=True, exist_ok=True)
    dump_config(config.model_copy(update={"out_dir": str(out)}), out / "committee.yaml")
    paths = []
    for member, state in zip(members, states):
        member_dir = Path(member.out_dir)
        if state != "done":
            train(member, resume=state == "started")
        paths.append(best_checkpoint(member_dir))
    return paths


__all__ = ["best_checkpoint", "member_config", "member_status", "train_committee"]
