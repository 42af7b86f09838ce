"""Cell-size rules: a reference label is only as good as its cell is large.

tblite (GFN1-xTB) has no k-points: a periodic cell is sampled at Γ only, so below a measured
size its energies, stresses and (for metals) forces belong to the cell rather than to the atoms.
A rule set, measured by a convergence study (``datasets/li_ec_gfn1_v2/convergence.py``), says per
family (``config_type``, fnmatch patterns, first match wins):

- ``min_atoms`` / ``min_width``: the smallest converged cell (atoms; Å of perpendicular width
  along the tiled axes);
- ``tile``: periodic frames below it are repeated along ``tile_axes`` until they reach it
  (crystals, slabs and interfaces laterally); otherwise they are refused with a one-line reason,
  before any oracle call;
- ``energy_min_atoms`` / ``stress_min_atoms``: energies and stresses converge more slowly than
  forces; a frame smaller than these (or any frame, when they are null: not converged at an
  affordable size) gets MACE's ``config_energy_weight`` / ``config_stress_weight`` = 0, so
  training keeps them out of the loss while its forces are used;
- ``fold``: with ``tile``, the frame is not stored tiled: the oracle labels the tiling and the
  result is folded back onto the frame (energy per copy, the first copy's forces, the tiling's
  stress): the small cell's labels on a k-point grid equal to the tiling, which a Γ-point method
  cannot give otherwise. The sizes (and so the weights) are those of the tiling. This is how
  strained unit cells of the SEI crystals get energies and stresses that pin their equations of
  state (the frame records ``fold_tiling``; every oracle honours it).

Every prepared frame records ``cell_rule`` (which rule, what was done) and ``oracle_settings``
(method, electronic temperature, ...) in its ``info``. A rule set names the oracle settings it was
measured with (``measured_with``); an oracle that differs is refused, since its sizes would not
hold.

YAML (the ``cell_rules:`` block of a labelling or campaign config, or a shipped name)::

    cell_rules: gfn1-xtb-3000K          # active_learning/configs/cell_rules/<name>.yaml
    cell_rules:
      measured_with: {method: GFN1-xTB, electronic_temperature: 3000}
      rules:
        - {match: "sei_lif*", min_atoms: 64, tile: true, energy_min_atoms: 512, stress_min_atoms: 512}
        - {match: "li_slab*", min_atoms: 200, min_width: 20, tile: true, tile_axes: [0, 1]}
        - {match: "*", min_atoms: 0}
"""

from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from ase import Atoms
from pydantic import Field

from mlip.config import StrictModel, validate
from mlip.errors import UserError

#: reason tag of a frame refused before the oracle ran (never retried)
REFUSED = "below_converged_size"
MAX_TILES = 64  # a rule never makes more than 64 copies of a frame
FOLD_KEY = "fold_tiling"  # info key: label this frame as its tiling and fold the result back
SHIPPED = Path(__file__).resolve().parents[1] / "configs" / "cell_rules"


class CellRule(StrictModel):
    match: str = Field(..., description="fnmatch pattern on config_type")
    min_atoms: int = Field(0, ge=0)
    min_width: float = Field(0.0, ge=0, description="Å, perpendicular width along every tiled axis")
    tile: bool = Field(False, description="repeat a smaller periodic frame up to the size (else refuse)")
    tile_axes: tuple[int, ...] = Field((0, 1, 2), description="axes a frame may be repeated along")
    fold: bool = Field(False, description="with tile: label the tiling, store the frame (k-point sampling)")
    energy_min_atoms: Optional[int] = Field(0, ge=0, description="energies converged from this size; null: never")
    stress_min_atoms: Optional[int] = Field(0, ge=0, description="stresses converged from this size; null: never")
    note: str = ""


class CellRules(StrictModel):
    measured_with: dict[str, Any] = Field(default_factory=dict, description="oracle settings the sizes hold for")
    rules: list[CellRule]
    source: str = ""

    def rule_for(self, config_type: str) -> CellRule | None:
        return next((r for r in self.rules if fnmatch.fnmatchcase(config_type, r.match)), None)


CellRulesSpec = Union[str, CellRules, None]


def load_cell_rules(spec: Any, where: str = "cell_rules") -> CellRules | None:
    """A rule set from a shipped name, a mapping, a CellRules, or None (no rules)."""
    if spec is None or isinstance(spec, CellRules):
        return spec
    if isinstance(spec, str):
        name = spec if spec.endswith(".yaml") else f"{spec}.yaml"
        path = SHIPPED / name
        if not path.is_file():
            known = sorted(p.stem for p in SHIPPED.glob("*.yaml"))
            raise UserError(f"unknown cell rules {spec!r} (shipped: {', '.join(known) or 'none'})", where)
        from mlip.config import read_yaml

        data = read_yaml(path)
        data.setdefault("source", f"active_learning/configs/cell_rules/{name}")
        return validate(CellRules, data, where)
    if isinstance(spec, dict):
        return validate(CellRules, spec, where)
    raise UserError(f"cell rules must be a shipped name or a mapping, got {type(spec).__name__}", where)


def oracle_settings(oracle_config: Any) -> dict[str, Any]:
    """The settings of an oracle config that change a number (what every label records)."""
    from active_learning.oracles.config import RUNTIME_ONLY_FIELDS

    if oracle_config is None:
        return {"kind": "tblite", "method": "GFN1-xTB", "electronic_temperature": 300.0}
    data = oracle_config.model_dump() if hasattr(oracle_config, "model_dump") else {"name": getattr(oracle_config, "name", "?")}
    data = {k: v for k, v in data.items() if k not in RUNTIME_ONLY_FIELDS and v is not None}
    if data.get("kind") == "tblite":
        data.setdefault("electronic_temperature", 300.0)  # tblite's default, written out
    return data


def check_oracle(rules: CellRules, oracle_config: Any, where: str = "cell_rules") -> None:
    """Refuse an oracle whose settings differ from those the rule sizes were measured with."""
    settings = oracle_settings(oracle_config)
    wrong = {k: (v, settings.get(k)) for k, v in rules.measured_with.items()
             if not _same(v, settings.get(k))}
    if wrong:
        what = ", ".join(f"{k} {got!r} (rules measured with {want!r})" for k, (want, got) in wrong.items())
        raise UserError(f"the oracle does not match the cell rules: {what}; use the same settings or other rules", where)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    return a == b


def _widths(cell: np.ndarray) -> np.ndarray:
    """Perpendicular widths of a cell (distance between opposite faces), Å."""
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3])) for k in range(3)])


def _repeats(atoms: Atoms, rule: CellRule) -> tuple[int, int, int] | None:
    """The smallest repeat along the rule's axes reaching its size, or None when it cannot."""
    rep = [1, 1, 1]
    widths = _widths(np.asarray(atoms.cell))
    n = len(atoms)
    axes = [a for a in rule.tile_axes if atoms.pbc[a]]
    while True:
        small = [a for a in axes if widths[a] * rep[a] < rule.min_width - 1e-9]
        if not small and n * int(np.prod(rep)) >= rule.min_atoms:
            return tuple(rep)  # type: ignore[return-value]
        if not axes or int(np.prod(rep)) >= MAX_TILES:
            return None
        # grow the narrowest axis (among those still too narrow, else among all tiled axes)
        pool = small or axes
        k = min(pool, key=lambda a: widths[a] * rep[a])
        rep[k] += 1


@dataclass
class Prepared:
    """A frame ready for the oracle (``atoms``), or the reason it was refused (``reason``)."""

    atoms: Atoms | None
    reason: str | None = None


def prepare_frame(atoms: Atoms, rules: CellRules | None, settings: dict[str, Any]) -> Prepared:
    """Apply the rule of the frame's family: tile it, or refuse it; record rule and settings."""
    out = atoms.copy()
    out.calc = None
    out.info["oracle_settings"] = json.dumps(settings, sort_keys=True)
    if rules is None:
        return Prepared(out)
    config_type = str(atoms.info.get("config_type", "default"))
    rule = rules.rule_for(config_type)
    if rule is None:
        return Prepared(None, f"{REFUSED}: no cell rule matches config_type {config_type!r}")
    rep = _repeats(out, rule)
    size = f"{rule.min_atoms} atoms" + (f", {rule.min_width:g} Å wide" if rule.min_width else "")
    if rep is None:
        return Prepared(None, f"{REFUSED}: {config_type} needs {size} (rule {rule.match!r}); "
                              f"this frame has {len(atoms)} atoms and cannot be tiled along {list(rule.tile_axes)}")
    if rep != (1, 1, 1):
        if not rule.tile:
            return Prepared(None, f"{REFUSED}: {config_type} needs {size} (rule {rule.match!r}); "
                                  f"this frame has {len(atoms)} atoms")
        if rule.fold:
            out.info[FOLD_KEY] = np.array(rep, dtype=int)
            what = f"labelled as its {'x'.join(map(str, rep))} tiling ({len(out) * int(np.prod(rep))} atoms), folded back"
        else:
            out = _tile(out, rep)
            what = f"tiled {'x'.join(map(str, rep))} to {len(out)} atoms"
    else:
        what = f"{len(out)} atoms, converged size"
    out.info["cell_rule"] = f"{rule.match}: {what} (min {size})"
    labelled_atoms = len(out) * int(np.prod(fold_tiling(out) or (1, 1, 1)))
    for key, converged_from in (("config_energy_weight", rule.energy_min_atoms),
                                ("config_stress_weight", rule.stress_min_atoms)):
        if converged_from is None or labelled_atoms < converged_from:
            out.info[key] = 0.0
    return Prepared(out)


def fold_tiling(atoms: Atoms) -> tuple[int, int, int] | None:
    """The tiling a frame is to be labelled in and folded back from (``fold`` rules), or None."""
    value = atoms.info.get(FOLD_KEY)
    if value is None:
        return None
    try:
        rep = tuple(int(v) for v in np.asarray(value).reshape(-1))
    except (TypeError, ValueError):
        rep = ()
    if len(rep) != 3 or min(rep) < 1:
        raise UserError(f"{FOLD_KEY} must be three positive integers, got {value!r}", FOLD_KEY)
    return None if rep == (1, 1, 1) else rep  # type: ignore[return-value]


def _tile(atoms: Atoms, rep: tuple[int, int, int]) -> Atoms:
    """``atoms.repeat`` keeping per-frame bookkeeping consistent (molecule ids stay distinct)."""
    out = atoms.repeat(rep)
    if "mol_id" in atoms.arrays:
        ids = np.asarray(atoms.arrays["mol_id"])
        span = int(ids.max()) + 1 if len(ids) and ids.max() >= 0 else 0
        copies = int(np.prod(rep))
        out.arrays["mol_id"] = np.concatenate([np.where(ids >= 0, ids + c * span, ids) for c in range(copies)])
    if isinstance(atoms.info.get("molecules"), dict):
        out.info["molecules"] = {k: v * int(np.prod(rep)) for k, v in atoms.info["molecules"].items()}
    out.info["tiled_from"] = len(atoms)
    return out


__all__ = ["CellRule", "CellRules", "CellRulesSpec", "FOLD_KEY", "Prepared", "REFUSED", "check_oracle",
           "fold_tiling", "load_cell_rules", "oracle_settings", "prepare_frame"]
