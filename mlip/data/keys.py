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

A frame may carry its stress as a virial instead (MACE's ``REF_virials``, ASE's extxyz
``virial``, eV, 3x3 or 9 or Voigt 6): with the convention of ASE and MACE, virial = -stress * V,
so the readers store ``info['stress'] = -virial / V`` (Voigt, eV/Å^3). Virials are read when no
stress key is found (or only the one ``virials_key`` names); a frame without a cell volume cannot
turn a virial into a stress and is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from pydantic import Field, model_validator

from mlip.config import StrictModel
from mlip.errors import UserError

LABELS = ("energy", "forces", "stress")
# tried in order when the key is not set (free_energy: VASP/ASE SinglePointCalculator results)
AUTO_KEYS = {"energy": ("energy", "free_energy", "REF_energy"), "forces": ("forces", "REF_forces"),
             "stress": ("stress", "REF_stress")}
AUTO_VIRIAL_KEYS = ("virial", "virials", "REF_virial", "REF_virials")
VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])  # xx yy zz yz xz xy, ASE's order


class LabelKeys(StrictModel):
    """Keys of the reference labels in the data files (unset: plain ASE key, else ``REF_*``)."""

    energy_key: str | None = Field(None, description="info key of the reference energy (eV); "
                                   "default: energy, else REF_energy")
    forces_key: str | None = Field(None, description="arrays key of the reference forces (eV/Å); "
                                   "default: forces, else REF_forces")
    stress_key: str | None = Field(None, description="info key of the reference stress (eV/Å^3, ASE "
                                   "sign, Voigt 6 or 3x3); default: stress, else REF_stress")
    virials_key: str | None = Field(None, description="info key of the reference virial (eV, "
                                    "virial = -stress * volume, 3x3 or Voigt 6), read when no stress is "
                                    "found; default: virial, virials, REF_virial, REF_virials")

    @model_validator(mode="after")
    def _one_stress_source(self):
        if self.stress_key and self.virials_key:
            raise ValueError("name stress_key or virials_key, not both (a frame has one stress label)")
        return self

    def label_keys(self) -> "LabelKeys":
        """Just the label keys (for a config that inherits them beside other fields)."""
        return LabelKeys(**{name: getattr(self, name) for name in LabelKeys.model_fields})

    def candidates(self, label: str) -> tuple[str, ...]:
        key = getattr(self, f"{label}_key")
        if label == "stress" and self.virials_key:
            return ()
        return (key,) if key else AUTO_KEYS[label]

    def virial_candidates(self) -> tuple[str, ...]:
        """The info keys a virial may be read from (none when ``stress_key`` is named)."""
        if self.stress_key:
            return ()
        return (self.virials_key,) if self.virials_key else AUTO_VIRIAL_KEYS

    def describe(self, label: str) -> str:
        """The keys looked for, for error messages: ``info['energy'] or info['REF_energy']``."""
        where = "arrays" if label == "forces" else "info"
        keys = self.candidates(label) + (self.virial_candidates() if label == "stress" else ())
        return " or ".join(f"{where}[{k!r}]" for k in keys)


def key_overrides(energy_key: str | None, forces_key: str | None, stress_key: str | None,
                  virials_key: str | None = None) -> dict[str, str]:
    """The ``--energy-key``-style flags that were given, as config overrides."""
    given = {"energy_key": energy_key, "forces_key": forces_key, "stress_key": stress_key,
             "virials_key": virials_key}
    return {k: v for k, v in given.items() if v is not None}


def _take(name: str, results: dict[str, Any], store: dict[str, Any], fixed: str) -> Any:
    """The value under ``name`` (calculator results first), removed from ``store`` unless it is
    the fixed key itself."""
    if name in results:
        return results[name]
    if name == fixed:
        return store.get(name)
    return store.pop(name, None)


def _to_voigt(value: np.ndarray) -> np.ndarray:
    """A stress or virial as Voigt 6 (from 3x3 or 9); other shapes pass for validation to report."""
    if value.shape == (9,):
        value = value.reshape(3, 3)
    return value[VOIGT] if value.shape == (3, 3) else value


def _stress_from_virial(atoms: Atoms, keys: LabelKeys, where: str | None) -> np.ndarray | None:
    """``-virial / V`` (Voigt, eV/Å^3) from the first virial key found (popped), else None."""
    for name in keys.virial_candidates():
        virial = atoms.info.pop(name, None)
        if virial is None:
            continue
        volume = abs(atoms.cell.volume)
        if not all(atoms.pbc) or volume < 1e-6:
            raise UserError(f"info[{name!r}] holds a virial but the frame has no periodic cell volume "
                            "(stress = -virial / volume needs one)", where)
        return -_to_voigt(np.asarray(virial, dtype=float)) / volume
    return None


def _label_value(atoms: Atoms, label: str, keys: LabelKeys, results: dict[str, Any]) -> Any:
    store = atoms.arrays if label == "forces" else atoms.info
    for name in keys.candidates(label):
        value = _take(name, results, store, label)
        if value is not None:
            return value
    if getattr(keys, f"{label}_key") or (label == "stress" and keys.virials_key):
        store.pop(label, None)  # a named key that is absent: no label, not the plain one
    return None


def apply_label_keys(atoms: Atoms, keys: LabelKeys | None = None, where: str | None = None) -> Atoms:
    """Move ``atoms``' labels (calculator results or the keys ``keys`` name) to the fixed keys;
    a virial becomes the stress when no stress is found (``where`` names the frame in errors)."""
    keys = keys or LabelKeys()
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    atoms.calc = None
    for label in LABELS:
        store = atoms.arrays if label == "forces" else atoms.info
        value = _label_value(atoms, label, keys, results)
        if value is None and label == "stress":
            value = _stress_from_virial(atoms, keys, where)
        if value is None:
            continue
        if label == "energy":
            try:
                value = float(value)
            except (TypeError, ValueError):
                pass  # validation reports it
        else:
            value = np.asarray(value, dtype=float)
            if label == "stress":
                value = _to_voigt(value)
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
