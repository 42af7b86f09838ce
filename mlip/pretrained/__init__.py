"""Models shipped with seimlip: ``pretrained_path(name)`` turns a name into a deployed file.

A shipped model is a deployed file ``<name>.pt`` in this folder (see ``mlip.deploy.exporter``),
optionally beside its data card ``<name>.md``.
"""

from __future__ import annotations

from pathlib import Path

from mlip.errors import UserError

PRETRAINED_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the shipped models."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.pt"))


def pretrained_path(name: str) -> Path:
    """The file of the shipped model ``name``; UserError naming the shipped ones otherwise."""
    if name and "/" not in name and "\\" not in name:
        path = PRETRAINED_DIR / f"{name}.pt"
        if path.is_file():
            return path
    shipped = ", ".join(available()) or "none"
    raise UserError(f"neither a model file nor a shipped model name (shipped models: {shipped})", name)
