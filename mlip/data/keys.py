"""Where a frame's reference labels live: MACE's ``energy_key`` / ``forces_key`` / ``stress_key``.

Files come labelled under many keys: ASE's own (``energy``, ``forces``, ``stress``, which the
extxyz reader moves onto a SinglePointCalculator), MACE's recommended ``REF_energy``,
``REF_forces``, ``REF_stress`` (kept in ``info``/``arrays``), or anything a user chose
(``dft_energy``). :class:`LabelKeys` is a config section that names them; with a key left unset
the plain ASE key is used and, when a frame lacks it, the ``REF_*`` key. A key that is set is
the only one read (a file with ``MACE_energy`` predictions beside ``REF_energy`` labels must not
mix them). The readers move the label found to the fixed keys (``info['energy']``,
``arrays['forces']``, ``info['stress']``); per-frame weights such as MACE's
``config_energy_weight`` stay in ``info`` untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from pydantic import Field

from mlip.config import StrictModel

LABELS = ("energy", "forces", "stress")
# tried in order when the key is not set (free_energy: VASP/ASE SinglePointCalculator results)
AUTO_KEYS = {"energy": ("energy", "free_energy", "REF_energy"), "forces": ("forces", "REF_forces"),
             "stress": ("stress", "REF_stress")}


class LabelKeys(StrictModel):
    """Keys of the reference labels in the data files (unset: plain ASE key, else ``REF_*``)."""

    energy_key: str | None = Field(None, description="info key of the reference energy (eV); "
                                   "default: energy, else REF_energy")
    forces_key: str | None = Field(None, description="arrays key of the reference forces (eV/Å); "
                                   "default: forces, else REF_forces")
    stress_key: str | None = Field(None, description="info key of the reference stress (eV/Å^3, ASE "
                                   "sign, Voigt 6 or 3x3); default: stress, else REF_stress")

    def label_keys(self) -> "LabelKeys":
        """Just the three keys (for a config that inherits them beside other fields)."""
        return LabelKeys(energy_key=self.energy_key, forces_key=self.forces_key, stress_key=self.stress_key)

    def candidates(self, label: str) -> tuple[str, ...]:
        key = getattr(self, f"{label}_key")
        return (key,) if key else AUTO_KEYS[label]

    def describe(self, label: str) -> str:
        """The keys looked for, for error messages: ``info['energy'] or info['REF_energy']``."""
        where = "arrays" if label == "forces" else "info"
        return " or ".join(f"{where}[{k!r}]" for k in self.candidates(label))


def key_overrides(energy_key: str | None, forces_key: str | None, stress_key: str | None) -> dict[str, str]:
    """The ``--energy-key``-style flags that were given, as config overrides."""
    given = {"energy_key": energy_key, "forces_key": forces_key, "stress_key": stress_key}
    return {k: v for k, v in given.items() if v is not None}


def _take(name: str, results: dict[str, Any], store: dict[str, Any], fixed: str) -> Any:
    """The value under ``name`` (calculator results first), removed from ``store`` unless it is
    the fixed key itself."""
    if name in results:
        return results[name]
    if name == fixed:
        return store.get(name)
    return store.pop(name, None)


def apply_label_keys(atoms: Atoms, keys: LabelKeys | None = None) -> Atoms:
    """Move ``atoms``' labels (calculator results or the keys ``keys`` name) to the fixed keys."""
    keys = keys or LabelKeys()
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    atoms.calc = None
    for label in LABELS:
        store = atoms.arrays if label == "forces" else atoms.info
        value = None
        for name in keys.candidates(label):
            value = _take(name, results, store, label)
            if value is not None:
                break
        if value is None:
            if getattr(keys, f"{label}_key"):
                store.pop(label, None)  # a named key that is absent: no label, not the plain one
            continue
        if label == "energy":
            try:
                value = float(value)
            except (TypeError, ValueError):
                pass  # validation reports it
        else:
            value = np.asarray(value, dtype=float)
            if label == "stress" and value.shape == (3, 3):
                value = value[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
            elif label == "stress" and value.shape == (9,):
                value = value.reshape(3, 3)[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        store[label] = value
    return atoms


def label_key_hint(atoms: Atoms, label: str) -> str:
    """`` (this frame has info['dft_energy']: --energy-key dft_energy)`` when a frame without
    the label carries a key that looks like it, else ``""``."""
    where = atoms.arrays if label == "forces" else atoms.info
    similar = [k for k in where if label in k.lower() and k != label and not k.startswith("config_")]
    if not similar:
        return ""
    name = "arrays" if label == "forces" else "info"
    return (f"; this frame has {name}[{similar[0]!r}]: pass --{label}-key {similar[0]} "
            f"(or {label}_key: {similar[0]} in the config)")
