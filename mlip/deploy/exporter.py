"""Export trained potentials to the one deployable file every integration loads.

``export(source, output)`` writes a TorchScript archive of :class:`DeployedPotential` (one model,
or a committee when ``source`` is a list) with its metadata in ``seimlip.json`` (see
:mod:`mlip.deploy.format`). ``load_deployed(path)`` reads it back and checks the format.
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

from mlip.deploy.format import FORMAT_NAME, FORMAT_VERSION, METADATA_FILE, _check_metadata, _diagnose, is_deployed_file, read_metadata  # noqa: F401
from mlip.deploy.module import DeployedPotential
from mlip.errors import UserError, first_line
from mlip.utils import atomic_path

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


def _model_dtype(model: nn.Module) -> torch.dtype:
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


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
    path = Path(source)
    if not path.is_file():
        raise UserError("checkpoint file not found", str(path))
    if is_deployed_file(path):
        raise UserError("this is already a deployed model file; export takes training checkpoints",
                        str(path))
    try:
        from mlip.train import load_model
    except ImportError as exc:
        raise UserError(f"cannot read checkpoints: mlip.train.load_model is unavailable ({exc})",
                        str(path)) from None
    return load_model(path), str(path)


def _script_member(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    member = copy.deepcopy(model).to(dtype).eval()
    for p in member.parameters():
        p.requires_grad_(False)
    try:  # e3nn modules carry their own compile modes (script or trace)
        from e3nn.util.jit import compile as e3nn_compile

        member = e3nn_compile(member)
    except ImportError:  # pragma: no cover - e3nn is a dependency
        pass
    return member


def build_deployed(source: Source | Sequence[Source], dtype: Any = None) -> tuple[torch.jit.ScriptModule, dict]:
    """Script ``source`` (one model or a committee) in memory; return (module, metadata)."""
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    if not sources:
        raise UserError("nothing to export: give at least one checkpoint or model")
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
    target = _parse_dtype(dtype) or _model_dtype(models[0])
    _dtype_name(target)

    wrapper = DeployedPotential([_script_member(m, target) for m in models])
    try:
        scripted = torch.jit.script(wrapper)
    except Exception as exc:  # TorchScript errors are long; the first lines say what failed
        head = "\n".join(str(exc).strip().splitlines()[:6])
        raise UserError(f"the model cannot be compiled to TorchScript:\n{head}") from exc

    from mlip import __version__

    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "species": species,
        "cutoff": cutoff,
        "n_interactions": n_interactions,
        "ghost_cutoff": n_interactions * cutoff,
        "n_members": len(models),
        "dtype": _dtype_name(target),
        "units": "metal",
        "seimlip_version": __version__,
        "torch_version": torch.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "members": [{"source": origin, "config": _config_dict(m)} for m, origin in zip(models, origins)],
    }
    return scripted, metadata


def export(source: Source | Sequence[Source], output: str | os.PathLike, dtype: Any = None,
           extra_metadata: dict | None = None) -> Path:
    """Write ``source`` (checkpoint path, Potential, or a list of them = committee) to ``output``.

    ``dtype`` ("float32"/"float64") casts the model; by default it keeps the model's own dtype.
    The file is written atomically. Returns the output path.
    """
    scripted, metadata = build_deployed(source, dtype)
    if extra_metadata:
        metadata.update(extra_metadata)
    output = Path(output)
    with atomic_path(output) as tmp:
        torch.jit.save(scripted, str(tmp), _extra_files={METADATA_FILE: json.dumps(metadata, indent=1)})
    return output


def load_deployed(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.jit.ScriptModule, dict]:
    """Load a deployed file: (scripted module on ``device``, metadata). Refuses other formats/versions."""
    path = Path(path)
    if not path.is_file():
        raise UserError("model file not found", str(path))
    if not is_deployed_file(path):
        raise UserError(_diagnose(path), str(path))
    extra = {METADATA_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except RuntimeError as exc:
        raise UserError(f"cannot load the deployed model ({first_line(exc)})", str(path)) from None
    try:
        metadata = json.loads(extra[METADATA_FILE])
    except json.JSONDecodeError:
        raise UserError("the model's seimlip.json metadata is not valid JSON", str(path)) from None
    _check_metadata(metadata, path)
    module.eval()
    return module, metadata


def potential_from_deployed(path: str | os.PathLike):
    """The eager :class:`~mlip.model.Potential` inside a single-model deployed file (shipped name or
    path), rebuilt from its metadata config and weights: what fine-tuning (``init_from``) starts from."""
    from mlip.config import validate
    from mlip.model import ModelConfig, Potential

    path = Path(path)
    if not path.exists() and path.suffix == "" and os.sep not in str(path):
        from mlip.pretrained import pretrained_path

        path = pretrained_path(str(path))
    module, metadata = load_deployed(path)
    if int(metadata["n_members"]) != 1:
        raise UserError(f"a committee of {metadata['n_members']} models: give one of its checkpoints", str(path))
    config = (metadata.get("members") or [{}])[0].get("config")
    if not isinstance(config, dict):
        raise UserError("the deployed file does not record its model config", str(path))
    model = Potential(validate(ModelConfig, config, f"{path} model config"), metadata["species"])
    own = model.state_dict()
    prefix = "members.0."
    weights = {k[len(prefix):]: v for k, v in module.state_dict().items()
               if k.startswith(prefix) and k[len(prefix):] in own}
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise UserError(f"the deployed weights do not match its config: {first_line(exc)}", str(path)) from None
    return model.eval()
