"""Read labelled frames from anything users have: extxyz (plain or gzipped), ``ase.db``, a dataset
folder, or any format ``ase.io`` reads (VASP OUTCAR/vasprun.xml, CP2K, Quantum ESPRESSO, ...).

Every reader returns ``ase.Atoms`` with labels under fixed keys, whatever the source format put
them in: ``info["energy"]`` (eV), ``arrays["forces"]`` (eV/Å, [N,3]), ``info["stress"]`` (Voigt 6,
eV/Å^3, ASE sign) and ``info["config_type"]`` (default ``"default"``). No calculator is attached.
MACE's ``REF_energy``/``REF_forces``/``REF_stress`` are read when the plain keys are absent, a
virial (``virial``, MACE's ``REF_virials``; virial = -stress * V) when no stress is found, and
any other keys through :class:`mlip.data.keys.LabelKeys` (``energy_key``, ...).
"""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import ase.io
from ase import Atoms

from mlip.data.keys import LabelKeys, apply_label_keys
from mlip.errors import UserError, first_line
from mlip.utils import atomic_path

DATA_SUFFIXES = (".extxyz", ".xyz", ".extxyz.gz", ".xyz.gz", ".db")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(DATA_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def normalise_labels(atoms: Atoms, keys: LabelKeys | None = None, where: str | None = None) -> Atoms:
    """Move labels from a SinglePointCalculator, ``REF_*``, a virial or the keys ``keys`` names to
    the fixed keys (``where`` names the frame in errors)."""
    apply_label_keys(atoms, keys, where)
    atoms.info.setdefault("config_type", "default")
    atoms.info["config_type"] = str(atoms.info["config_type"])
    return atoms


def _read_db(path: Path) -> list[Atoms]:
    import ase.db

    frames = []
    with ase.db.connect(str(path)) as db:
        for row in db.select():
            atoms = row.toatoms()  # energy/forces/stress come back on a SinglePointCalculator
            atoms.info.update(row.key_value_pairs)
            frames.append(atoms)
    return frames


def _read_file(path: Path, index: str | int | slice = ":", keys: LabelKeys | None = None) -> list[Atoms]:
    suffix = _suffix(path)
    try:
        if suffix == ".db":
            frames = _read_db(path)
        else:
            fmt = "extxyz" if suffix in (".extxyz", ".xyz", ".extxyz.gz", ".xyz.gz") else None
            source: str | io.StringIO = str(path)
            if fmt == "extxyz" and suffix.endswith(".gz"):
                # ase seeks in the gzip stream frame by frame: 36 s for the shipped 2 MB training
                # split, 0.8 s when decompressed once into memory
                with gzip.open(path, "rt") as fh:
                    source = io.StringIO(fh.read())
            frames = ase.io.read(source, index=index, format=fmt)
    except UserError:
        raise
    except (gzip.BadGzipFile, EOFError) as exc:
        raise UserError(f"corrupt or truncated compressed file ({exc})", str(path)) from None
    except Exception as exc:  # ase.io raises many types for malformed input
        raise UserError(f"cannot read as {suffix.lstrip('.') or 'a known format'}: {first_line(exc)}", str(path)) from None
    if isinstance(frames, Atoms):
        frames = [frames]
    if not frames:
        raise UserError("holds no frames", str(path))
    for i, atoms in enumerate(frames):
        atoms.info["_source"] = f"{path}#{i}"
        normalise_labels(atoms, keys, atoms.info["_source"])
    return frames


def data_files(path: str | os.PathLike) -> list[Path]:
    """The data files a path stands for: itself, or the data files directly inside a folder."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _suffix(p) in DATA_SUFFIXES)
        if not files:
            raise UserError(f"folder holds no data files ({', '.join(DATA_SUFFIXES)})", str(path))
        return files
    if not path.exists():
        raise UserError("no such file or folder", str(path))
    return [path]


def read_frames(path: str | os.PathLike, index: str | int | slice = ":",
                keys: LabelKeys | None = None) -> list[Atoms]:
    """Read every frame from a file or a dataset folder, labels normalised (see module doc);
    ``keys`` names the label keys (``energy_key``, ...; default: plain ASE keys, else ``REF_*``)."""
    frames: list[Atoms] = []
    for file in data_files(path):
        frames.extend(_read_file(file, index, keys))
    return frames


def frame_label(atoms: Atoms) -> str:
    """Where a frame came from, for error messages: ``file#index``."""
    return str(atoms.info.get("_source", "frame"))


def write_frames(path: str | os.PathLike, frames: list[Atoms]) -> None:
    """Write frames as extxyz (gzipped when the name ends in .gz), atomically."""
    path = Path(path)
    clean = []
    for atoms in frames:
        copy = atoms.copy()
        copy.calc = None
        copy.info.pop("_source", None)
        clean.append(copy)
    with atomic_path(path) as tmp:
        if path.name.endswith(".gz"):
            with gzip.open(tmp, "wt") as fh:
                ase.io.write(fh, clean, format="extxyz")
        else:
            ase.io.write(str(tmp), clean, format="extxyz")
