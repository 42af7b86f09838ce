"""Export trained potentials to the one deployable file every integration loads.

``export(source, output)`` writes a TorchScript archive of :class:`DeployedPotential` (one model,
or a committee when ``source`` is a list) with its metadata in ``seimlip.json`` (see
:mod:`mlip.deploy.format`); :func:`mlip.model.io.load_deployed` reads it back and checks the format.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Sequence, Union

import torch
from torch import nn

from e3nn.util.jit import compile as e3nn_compile

from mlip.deploy.format import FORMAT_NAME, FORMAT_VERSION, METADATA_FILE, MODULE_FORMATS
from mlip.deploy.halo import LayeredDeployedPotential, is_layered
from mlip.deploy.module import DeployedPotential
from mlip.deploy.program import export_program, save_program
from mlip.errors import UserError
from mlip.model.io import load_potential, resolve_model_path
from mlip.model.output import model_dtype
from mlip.utils import atomic_path
from mlip.version import __version__

Source = Union[str, os.PathLike, nn.Module]
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _dtype_name(dtype: torch.dtype) -> str:
    for name, value in _DTYPES.items():
        if value == dtype:
            return name
    raise UserError(f"unsupported dtype {dtype}: use float32 or float64")


def _parse_dtype(dtype: Any) -> torch.dtype | None:
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        _dtype_name(dtype)
        return dtype
    name = str(dtype).lower().replace("torch.", "")
    name = {"double": "float64", "float": "float32", "fp64": "float64", "fp32": "float32"}.get(name, name)
    if name not in _DTYPES:
        raise UserError(f"unknown dtype '{dtype}': use float32 or float64")
    return _DTYPES[name]


def _config_dict(model: nn.Module) -> dict | None:
    config = getattr(model, "config", None)
    if config is None:
        return None
    if hasattr(config, "model_dump"):
        config = config.model_dump(mode="json")
    if not isinstance(config, dict):
        return None
    try:
        return json.loads(json.dumps(config, default=str))
    except (TypeError, ValueError):
        return None


def _n_interactions(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    for holder in (config, model):
        if holder is None:
            continue
        value = holder.get("n_interactions") if isinstance(holder, dict) else getattr(holder, "n_interactions", None)
        if value is not None:
            return int(value)
    raise UserError("the model does not say how many message-passing layers it has "
                    "(config.n_interactions); cannot set the LAMMPS ghost cutoff")


def _load_source(source: Source) -> tuple[nn.Module, str]:
    if isinstance(source, nn.Module):
        return source, type(source).__name__
    path = resolve_model_path(source)
    if not path.is_file():
        raise UserError("checkpoint file not found", str(path))
    # a deployed single model is re-exported from its own weights (how a file of an older deployed
    # format, the shipped one included, gets the current format; a committee needs its checkpoints)
    return load_potential(path), str(path)


def _member(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    member = copy.deepcopy(model).to(dtype).eval()
    for p in member.parameters():
        p.requires_grad_(False)
    return member


def deployed_members(source: Source | Sequence[Source], dtype: Any = None,
                     module_format: str = "torchscript") -> tuple[list[nn.Module], dict]:
    """(eval-mode copies of the members cast to the deployed dtype, metadata) of ``source``: one
    model or a committee (checkpoint paths or modules). ``module_format`` is recorded."""
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    if not sources:
        raise UserError("nothing to export: give at least one checkpoint or model")
    if module_format not in MODULE_FORMATS:
        raise UserError(f"unknown deployment format {module_format!r}: use {' or '.join(MODULE_FORMATS)}", "format")
    models, origins = zip(*(_load_source(s) for s in sources))
    species = [str(s) for s in models[0].species]
    cutoff = float(models[0].cutoff)
    for model, origin in zip(models[1:], origins[1:]):
        if [str(s) for s in model.species] != species:
            raise UserError(f"committee members must share one species list: {list(model.species)} "
                            f"differs from {species}", origin)
        if abs(float(model.cutoff) - cutoff) > 1e-12:
            raise UserError(f"committee members must share one cutoff: {model.cutoff} differs from "
                            f"{cutoff}", origin)
    n_interactions = max(_n_interactions(m) for m in models)
    target = _parse_dtype(dtype) or model_dtype(models[0])
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "module_format": module_format,
        "species": species,
        "cutoff": cutoff,
        "n_interactions": n_interactions,
        "ghost_cutoff": n_interactions * cutoff,
        "n_members": len(models),
        "halo_exchange": module_format == "torchscript" and all(is_layered(m) for m in models),
        "dtype": _dtype_name(target),
        "units": "metal",
        "seimlip_version": __version__,
        "torch_version": torch.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "members": [{"source": origin, "config": _config_dict(m)} for m, origin in zip(models, origins)],
    }
    return [_member(m, target) for m in models], metadata


def build_deployed(source: Source | Sequence[Source], dtype: Any = None) -> tuple[torch.jit.ScriptModule, dict]:
    """Script ``source`` (one model or a committee) in memory; return (module, metadata)."""
    members, metadata = deployed_members(source, dtype)
    # e3nn modules carry their own compile modes (script or trace)
    # layered potentials also get the per-layer methods of LAMMPS' halo exchange (mlip.deploy.halo)
    cls = LayeredDeployedPotential if metadata["halo_exchange"] else DeployedPotential
    wrapper = cls([e3nn_compile(m) for m in members])
    try:
        scripted = torch.jit.script(wrapper)
    except Exception as exc:  # TorchScript errors are long; the first lines say what failed
        head = "\n".join(str(exc).strip().splitlines()[:6])
        raise UserError(f"the model cannot be compiled to TorchScript:\n{head}") from exc
    return scripted, metadata


def export(source: Source | Sequence[Source], output: str | os.PathLike, dtype: Any = None,
           extra_metadata: dict | None = None, module_format: str = "torchscript") -> Path:
    """Write ``source`` (checkpoint path, Potential, or a list of them = committee) to ``output``.

    ``dtype`` ("float32"/"float64") casts the model; by default it keeps the model's own dtype.
    ``module_format``: ``"torchscript"`` (ASE and LAMMPS) or ``"export"`` (a ``torch.export``
    program, :mod:`mlip.deploy.program`; ASE only). The file is written atomically. Returns its path.
    """
    output = Path(output)
    if module_format == "export":
        members, metadata = deployed_members(source, dtype, module_format)
        metadata.update(extra_metadata or {})
        with atomic_path(output) as tmp:
            save_program(export_program(members, metadata), tmp, metadata)
        return output
    scripted, metadata = build_deployed(source, dtype)
    metadata.update(extra_metadata or {})
    with atomic_path(output) as tmp:
        torch.jit.save(scripted, str(tmp), _extra_files={METADATA_FILE: json.dumps(metadata, indent=1)})
    return output
