"""``seimlip eval ... --predictions OUT.extxyz``: the frames with the model's predictions beside
the reference labels, as ``mace_eval_configs`` and ``dp test -d`` write them.

Each frame keeps its positions, cell, ``config_type`` and per-frame weights; the reference labels
go under MACE's keys (``REF_energy``, ``REF_forces``, ``REF_stress``: the file reads back into
``seimlip eval`` or any MACE tool) and the predictions under ``<prefix>energy``,
``<prefix>forces``, ``<prefix>stress`` (default prefix ``seimlip_``). A model with uncertainty
(committee or readout heads, as a deployed file or a shipped name) adds, under the same prefix,
the per-frame ``energy_std``, ``max_force_dev``, ``head_energy_std``, ``max_atom_energy_std`` and
the per-atom ``force_dev`` and ``atom_energy_std`` it reports.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

import numpy as np
from ase import Atoms

from mlip.errors import UserError
from mlip.data.readers import write_frames

DEFAULT_PREFIX = "seimlip_"
REFERENCE = {"energy": "REF_energy", "forces": "REF_forces", "stress": "REF_stress"}
FRAME_UNCERTAINTIES = ("energy_std", "max_force_dev", "head_energy_std", "max_atom_energy_std")
ATOM_UNCERTAINTIES = ("force_dev", "atom_energy_std")
UNCERTAINTIES = FRAME_UNCERTAINTIES + ATOM_UNCERTAINTIES


def check_prefix(prefix: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", prefix or ""):
        raise UserError(f"--prediction-prefix must be letters, digits and _ starting with a letter, got {prefix!r}")
    if prefix in ("REF_", ""):
        raise UserError(f"--prediction-prefix {prefix!r} would overwrite the reference labels")
    return prefix


def uncertainty_results(results: dict) -> dict:
    """The uncertainty entries of an ASE calculator's ``results`` (copies)."""
    return {k: np.array(results[k], dtype=float) if k in ATOM_UNCERTAINTIES else float(results[k])
            for k in UNCERTAINTIES if k in results}


def prediction_frames(frames: Sequence[Atoms], preds: Sequence[dict], prefix: str = DEFAULT_PREFIX) -> list[Atoms]:
    """Copies of ``frames`` with reference labels under ``REF_*`` and predictions under ``prefix``."""
    check_prefix(prefix)
    if len(frames) != len(preds):
        raise ValueError(f"{len(frames)} frames but {len(preds)} predictions")
    out = []
    for atoms, pred in zip(frames, preds):
        a = atoms.copy()
        a.calc = None
        for label, ref in REFERENCE.items():
            store = a.arrays if label == "forces" else a.info
            if store.get(label) is not None:
                store[ref] = store.pop(label)
            else:
                store.pop(label, None)
        a.info[f"{prefix}energy"] = float(pred["energy"])
        a.arrays[f"{prefix}forces"] = np.asarray(pred["forces"], dtype=float).reshape(len(a), 3)
        if pred.get("stress") is not None:
            a.info[f"{prefix}stress"] = np.asarray(pred["stress"], dtype=float).reshape(-1)[:6]
        for key in FRAME_UNCERTAINTIES:
            if pred.get(key) is not None:
                a.info[f"{prefix}{key}"] = float(pred[key])
        for key in ATOM_UNCERTAINTIES:
            if pred.get(key) is not None:
                a.arrays[f"{prefix}{key}"] = np.asarray(pred[key], dtype=float).reshape(len(a))
        out.append(a)
    return out


def write_predictions(path: str | os.PathLike, frames: Sequence[Atoms], preds: Sequence[dict],
                      prefix: str = DEFAULT_PREFIX) -> None:
    """Write :func:`prediction_frames` as extxyz (gzipped for ``.gz``), atomically."""
    write_frames(path, prediction_frames(frames, preds, prefix))
