"""Reading model files: the one place every loader in seimlip goes through.

A model is named by a *spec*: a file path, or the name of a shipped model (``mlip/pretrained``).
:func:`resolve_model_path` applies the one lookup rule (an existing path, or anything that looks
like a path: a suffix or a folder, is a file; a bare name is a shipped model's). A file is one of two kinds (:func:`model_kind`):

- ``"checkpoint"``: what training writes (``torch.save`` of plain data, read with
  ``weights_only=True``; layout in :mod:`mlip.train.checkpoint`),
- ``"deployed"``: what ``seimlip deploy`` writes (a TorchScript archive, or a ``torch.export``
  program, with ``seimlip.json`` metadata; :mod:`mlip.deploy.format`).

:func:`load_potential` gives the eager :class:`~mlip.model.Potential` of either kind (a deployed
single model is rebuilt from its recorded config and weights), :func:`load_deployed` the scripted
module of a deployed file with its metadata.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Union

import torch
from torch.export.passes import move_to_device_pass

from mlip.config import validate
from mlip.deploy.format import file_kind, read_metadata
from mlip.errors import UserError, first_line
from mlip.model.config import ModelConfig
from mlip.model.potential import Potential
from mlip.pretrained import pretrained_path

Spec = Union[str, os.PathLike]
CHECKPOINT_FORMAT_VERSION = 1
CHECKPOINT_KIND = "seimlip-checkpoint"


def resolve_model_path(spec: Spec) -> Path:
    """The file ``spec`` names: itself if it exists or looks like a path (a suffix or a folder; the
    caller says "not found"), else the shipped model of that name (UserError naming the shipped
    models when there is none)."""
    path = Path(os.fspath(spec))
    if path.exists() or path.suffix or len(path.parts) > 1:
        return path
    return pretrained_path(str(spec))


def model_kind(path: Spec) -> str:
    """``"deployed"``, ``"checkpoint"`` or ``"unknown"`` (cheap: reads the zip index only)."""
    kind = file_kind(path)
    return kind if kind in ("deployed", "checkpoint") else "unknown"


def load_checkpoint(path: Spec, map_location="cpu") -> dict:
    """Read and check a seimlip training checkpoint; anything else is one clear UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError("checkpoint not found", str(path))
    if path.stat().st_size == 0:
        raise UserError("empty file (0 bytes), not a seimlip checkpoint", str(path))
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # not a torch file, or one that needs pickled code
        raise UserError(f"not a seimlip checkpoint ({type(exc).__name__}: {first_line(exc, 120)})", str(path)) from None
    if not isinstance(state, dict) or state.get("kind") != CHECKPOINT_KIND or "format_version" not in state:
        raise UserError("not a seimlip checkpoint (no format_version/kind)", str(path))
    if state["format_version"] != CHECKPOINT_FORMAT_VERSION:
        raise UserError(
            f"checkpoint format_version {state['format_version']} is not supported by this seimlip "
            f"(expects {CHECKPOINT_FORMAT_VERSION})", str(path))
    return state


def load_deployed(spec: Spec, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """(module on ``device``, metadata) of a deployed file, TorchScript or ``torch.export``
    (``module_format`` in its metadata); refuses other formats/versions."""
    path = resolve_model_path(spec)
    if not path.is_file():
        raise UserError("model file not found", str(path))
    metadata = read_metadata(path)
    try:
        if metadata.get("module_format", "torchscript") == "export":
            return _load_program(path, device), metadata  # an exported program has no train/eval modes
        module = torch.jit.load(str(path), map_location=device)
    except RuntimeError as exc:
        raise UserError(f"cannot load the deployed model ({first_line(exc)})", str(path)) from None
    return module.eval(), metadata


def _load_program(path: Path, device: str | torch.device) -> torch.nn.Module:
    serde = logging.getLogger("torch._export.serde.serialize")
    level = serde.level
    serde.setLevel(logging.ERROR)  # "Symbol u0 did not appear in the graph": the padding width, by design
    try:
        program = torch.export.load(path)
    finally:
        serde.setLevel(level)
    if torch.device(device).type != "cpu":
        program = move_to_device_pass(program, torch.device(device))
    return program.module()


def load_potential(spec: Spec, use_ema: bool = True, map_location="cpu") -> Potential:
    """The eager Potential ``spec`` names, in eval mode: a checkpoint's EMA weights (``use_ema``)
    or raw ones, or the single model of a deployed file (what fine-tuning starts from)."""
    path = resolve_model_path(spec)
    if model_kind(path) == "deployed":
        return _potential_from_deployed(path)
    state = load_checkpoint(path, map_location=map_location)
    weights = state["ema"] if use_ema and state.get("ema") is not None else state["model"]
    return Potential.from_state(weights).eval()


def _potential_from_deployed(path: Path) -> Potential:
    module, metadata = load_deployed(path)
    if int(metadata["n_members"]) != 1:
        raise UserError(f"a committee of {metadata['n_members']} models: give one of its checkpoints", str(path))
    config = (metadata.get("members") or [{}])[0].get("config")
    if not isinstance(config, dict):
        raise UserError("the deployed file does not record its model config", str(path))
    model = Potential(validate(ModelConfig, config, f"{path} model config"), metadata["species"])
    own = model.state_dict()
    weights = module.state_dict()
    # member 0's weights: under members.0.model. (ForceStressOutput members) or members.0. (older files)
    prefix = "members.0.model." if any(k.startswith("members.0.model.") for k in weights) else "members.0."
    picked = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix) and k[len(prefix):] in own}
    try:
        model.load_state_dict(picked)
    except RuntimeError as exc:
        raise UserError(f"the deployed weights do not match its config: {first_line(exc)}", str(path)) from None
    return model.eval()
