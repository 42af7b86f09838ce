"""Training checkpoints: one dict of tensors and plain values, loadable with weights_only=True.

Layout (``FORMAT_VERSION`` 1)::

    format_version, kind="seimlip-checkpoint",
    model   Potential.to_state() of the raw weights,
    ema     Potential.to_state() of the EMA weights (None without EMA) + ema_updates,
    optimizer, scheduler, epoch (completed), step, best_metric, best_epoch, bad_epochs,
    stage, elapsed_s, history (list of per-epoch metric dicts), statistics,
    rng {torch, numpy, python}, config (the resolved TrainConfig as plain data)
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from mlip.errors import UserError
from mlip.model.io import CHECKPOINT_FORMAT_VERSION, CHECKPOINT_KIND, load_checkpoint
from mlip.utils import atomic_path

FORMAT_VERSION, KIND = CHECKPOINT_FORMAT_VERSION, CHECKPOINT_KIND


def rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, pstate, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "state": list(pstate), "gauss": gauss},
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def previous_path(path: str | Path) -> Path:
    """Where ``save_checkpoint(..., keep_previous=True)`` keeps the checkpoint it replaced."""
    path = Path(path)
    return path.with_name(f"{path.stem}.previous{path.suffix}")


def save_checkpoint(path: str | Path, state: dict, keep_previous: bool = False) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact. ``keep_previous``
    moves the replaced file to :func:`previous_path`, which a resume falls back on."""
    state = {"format_version": FORMAT_VERSION, "kind": KIND, **state}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        if keep_previous and path.exists():
            os.replace(path, previous_path(path))


def load_resume_checkpoint(path: str | Path, map_location="cpu") -> tuple[dict, Path]:
    """(state, file) of the newest readable checkpoint: ``path``, or the previous one kept beside it
    when ``path`` is missing, truncated or corrupt (a line on stderr says so)."""
    path = Path(path)
    try:
        return load_checkpoint(path, map_location), path
    except UserError as exc:
        previous = previous_path(path)
        if not previous.is_file():
            raise
        state = load_checkpoint(previous, map_location)
        Console(stderr=True).print(f"warning: {exc}; resuming from {previous} (epoch {state.get('epoch')})",
                                   markup=False, highlight=False, soft_wrap=True)
        return state, previous
