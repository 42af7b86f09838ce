"""The deployed-model file format: constants shared by the exporter, the loaders and the plugin.

A deployed file is a TorchScript archive of :class:`mlip.deploy.module.DeployedPotential` (or,
``module_format: export``, a ``torch.export`` program of it: :mod:`mlip.deploy.program`) with
the JSON metadata below stored as the extra file ``seimlip.json``. Bump ``FORMAT_VERSION``
whenever the scripted forward's inputs/outputs or the metadata keys change: old files are then
refused with a clear message (Python and LAMMPS alike) instead of giving wrong numbers.

Metadata keys: ``format`` ("seimlip-deployed"), ``format_version``, ``species`` (element symbols;
the model's species index order), ``cutoff`` (Å), ``n_interactions`` (message-passing layers;
LAMMPS ghost cutoff = n_interactions * cutoff), ``ghost_cutoff``, ``n_members`` (1, or K for a
committee), ``dtype`` ("float32"/"float64"), ``units`` ("metal": eV, Å), ``seimlip_version``,
``torch_version``, ``created``, ``members`` (per member: source and model config when known),
``module_format`` (``torchscript``, the only one LAMMPS loads, or ``export``), ``halo_exchange``
(version 2: true when the TorchScript module has the per-layer methods of
:mod:`mlip.deploy.halo`, which LAMMPS' ``graph halo`` needs; absent in version 1 files).

This module imports nothing heavy (no torch): ``import lammps`` reaches it through the plugin
entry point, and :func:`read_metadata` serves code that only needs the metadata.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from mlip.errors import UserError

FORMAT_NAME = "seimlip-deployed"
FORMAT_VERSION = 2  # 2: TorchScript files of layered potentials carry the halo methods (mlip.deploy.halo)
READABLE_FORMAT_VERSIONS = (1, 2)  # version 1 files still run everywhere except LAMMPS' `graph halo`
METADATA_FILE = "seimlip.json"
MODULE_FORMATS = ("torchscript", "export")  # metadata["module_format"]; files without the key: torchscript


def file_kind(path: str | os.PathLike) -> str:
    """What a model file is, from its zip index alone: ``"deployed"`` (seimlip metadata inside),
    ``"checkpoint"`` (a ``torch.save`` archive: pickled data, no TorchScript code), ``"torchscript"``
    (code without seimlip metadata) or ``"unknown"`` (not a zip archive)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return "unknown"
    if any(name.endswith(f"/extra/{METADATA_FILE}") for name in names):
        return "deployed"
    if any(n.endswith("/data.pkl") for n in names) and not any("/code/" in n for n in names):
        return "checkpoint"
    return "torchscript"


def is_deployed_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is a TorchScript archive carrying seimlip metadata (cheap: reads the zip index)."""
    return file_kind(path) == "deployed"


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a deployed file, read from the archive without loading the model."""
    path = Path(path)
    if not path.is_file():
        raise UserError("model file not found", str(path))
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.endswith(f"/extra/{METADATA_FILE}")]
            if not names:
                raise UserError(_diagnose(path), str(path))
            metadata = json.loads(zf.read(names[0]))
    except (zipfile.BadZipFile, OSError):
        raise UserError(_diagnose(path), str(path)) from None
    except json.JSONDecodeError:
        raise UserError("the model's seimlip.json metadata is not valid JSON", str(path)) from None
    _check_metadata(metadata, path)
    return metadata


def readout_heads(metadata: dict) -> int:
    """The readout heads of a deployed model's members (1 unless a shallow ensemble)."""
    configs = [m.get("config") for m in metadata.get("members") or [] if isinstance(m, dict)]
    return max([int(c.get("readout_heads", 1) or 1) for c in configs if isinstance(c, dict)] or [1])


def _check_metadata(metadata: dict, path: Path) -> None:
    if metadata.get("format") != FORMAT_NAME:
        raise UserError("not a seimlip deployed model (wrong format tag in its metadata)", str(path))
    version = metadata.get("format_version")
    if version not in READABLE_FORMAT_VERSIONS:
        raise UserError(f"deployed-model format version {version}, but this seimlip reads versions "
                        f"{READABLE_FORMAT_VERSIONS[0]}-{FORMAT_VERSION}: re-export the model with `seimlip deploy`",
                        str(path))


def _diagnose(path: Path) -> str:
    if path.is_file() and path.stat().st_size == 0:
        return "empty file (0 bytes), not a seimlip deployed model"
    return {
        "unknown": "not a seimlip deployed model (not a TorchScript archive)",
        "checkpoint": "this looks like a training checkpoint, not a deployed model: run `seimlip deploy` on it",
    }.get(file_kind(path), "a TorchScript file without seimlip metadata: not a seimlip deployed model "
                           "(export it with `seimlip deploy`)")
