"""Models shipped with seimlip: ``pretrained_path(name)`` turns a name into a deployed file.

A shipped model is a deployed file ``<name>.pt`` in this folder (see ``mlip.deploy.export``).
"""

from __future__ import annotations

from pathlib import Path

from mlip.errors import UserError

PRETRAINED_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the shipped models."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))


def pretrained_path(name: str) -> Path:
    """The deployed file of the shipped model ``name`` (``name`` or ``name.pt``)."""
    stem = name[:-3] if name.endswith(".pt") else name
    path = PRETRAINED_DIR / f"{stem}.pt"
    if "/" in stem or not path.is_file():
        names = ", ".join(available()) or "none are shipped yet"
        raise UserError(f"no shipped model called '{name}' (available: {names})")
    return path
