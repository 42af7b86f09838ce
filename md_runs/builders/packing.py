"""Packed molecular boxes: EC/DMC + LiPF6 electrolytes and amorphous LEDC, packed with packmol.

Packmol (the ``packmol`` binary of the PyPI package, or Debian's) runs with periodic boundary
conditions (``pbc``), a 2.0 Å tolerance between atoms of different molecules and a fixed seed, so a
box is a deterministic function of its arguments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read

from mlip.errors import UserError
from md_runs.builders.molecules import molecule_geometry
from md_runs.builders.validate import finish, validate_structure

AVOGADRO_A3_PER_L = 6.02214076e-4  # molecules per Å^3 for a 1 mol/L concentration
G_CM3_TO_AMU_A3 = 0.602214076  # 1 g/cm^3 in amu/Å^3

#: liquid densities (g/cm^3) of the solvents that have geometries in molecules.py
SOLVENT_DENSITY = {"EC": 1.32, "DMC": 1.07}
#: density added per mol/L of LiPF6 (g/cm^3 per M): 1 M LiPF6 in EC:DMC 1:1 (LP30) is ~1.30 g/cm^3
SALT_DENSITY_PER_MOLAR = 0.10
SALT = ("Li+", "PF6")

PACKMOL_TIMEOUT_S = 120
PACKMOL_ATTEMPTS = 5
LI_EXTRA_RADIUS = 0.1  # Å added to packmol's radius (tolerance/2) for Li atoms


def packmol_binary() -> str:
    found = shutil.which("packmol") or shutil.which("packmol", path=str(Path(sys.executable).parent))
    if not found:
        raise UserError("packmol not found: install it with `pip install packmol` or `apt-get install packmol`", "packmol")
    return found


def _mass(name: str) -> float:
    return float(molecule_geometry(name).get_masses().sum())


def _packmol_seed(seed: int, attempt: int) -> int:
    """A positive seed that fits packmol's 32-bit Fortran integer (any Python int seed works)."""
    return (int(seed) * 7919 + attempt) % 2_147_483_000 + 1


def pack(
    contents: list[tuple[str, int]],
    cell: tuple[float, float, float],
    seed: int = 0,
    tolerance: float = 2.0,
    periodic_z: bool = True,
    where: str = "pack",
) -> Atoms:
    """Pack ``count`` copies of each named molecule into an orthogonal periodic box.

    With ``periodic_z=False`` every atom lies in 0 <= z <= ``cell[2]`` (a flat slab of liquid, for
    interfaces) and the returned cell is ``tolerance`` taller so periodic images do not clash.
    Atoms carry ``arrays['mol_id']`` (one id per molecule, in packing order) and
    ``info['molecules']`` the counts.
    """
    a, b, h = (float(x) for x in cell)
    contents = [(name, int(n)) for name, n in contents if int(n) > 0]
    if not contents:
        raise UserError("nothing to pack (all molecule counts are zero)", where)
    top = h if periodic_z else h + tolerance
    with tempfile.TemporaryDirectory(prefix="seimlip-packmol-") as tmp:
        tmpdir = Path(tmp)
        blocks = []
        for k, (name, n) in enumerate(contents):
            geom = molecule_geometry(name)
            fname = f"m{k}.xyz"
            lines = [str(len(geom)), name] + [
                f"{s} {x:.6f} {y:.6f} {z:.6f}" for s, (x, y, z) in zip(geom.get_chemical_symbols(), geom.positions)
            ]
            (tmpdir / fname).write_text("\n".join(lines) + "\n")
            inside = "" if periodic_z else f"  inside box 0. 0. 0. {a:.6f} {b:.6f} {h:.6f}\n"
            # packmol's tolerance is met only approximately; give Li a larger radius so that Li-Li
            # contacts between molecules clear validate_structure's 2.0 Å threshold
            li = [str(k + 1) for k, s in enumerate(geom.get_chemical_symbols()) if s == "Li"]
            radius = f"  atoms {' '.join(li)}\n    radius {tolerance / 2 + LI_EXTRA_RADIUS:.3f}\n  end atoms\n" if li else ""
            blocks.append(f"structure {fname}\n  number {n}\n{inside}{radius}end structure\n")
        mol_id = np.concatenate(
            [np.full(len(molecule_geometry(name)), i) for i, name in enumerate(
                name for name, n in contents for _ in range(n))]
        ).astype(int)
        log = ""
        for attempt in range(PACKMOL_ATTEMPTS):
            out = tmpdir / "packed.xyz"
            if out.exists():
                out.unlink()
            inp = (
                f"tolerance {tolerance}\nfiletype xyz\noutput {out.name}\n"
                f"seed {_packmol_seed(seed, attempt)}\nnloop {200 * (attempt + 1)}\n"
                f"pbc 0. 0. 0. {a:.6f} {b:.6f} {top:.6f}\n" + "".join(blocks)
            )
            (tmpdir / "pack.inp").write_text(inp)
            try:
                # packmol rewinds its input, so it must be a file, not a pipe
                with open(tmpdir / "pack.inp") as stdin:
                    proc = subprocess.run(
                        [packmol_binary()],
                        stdin=stdin,
                        cwd=tmpdir,
                        capture_output=True,
                        text=True,
                        timeout=PACKMOL_TIMEOUT_S,
                        env={**os.environ, "OMP_NUM_THREADS": "1"},
                    )
            except subprocess.TimeoutExpired:
                log = f"timed out after {PACKMOL_TIMEOUT_S} s"
                continue
            log = proc.stdout[-2000:] + proc.stderr[-1000:]
            if proc.returncode != 0 or "Success!" not in proc.stdout or not out.exists():
                continue
            packed = read(out, format="xyz")
            atoms = Atoms(packed.get_chemical_symbols(), positions=packed.positions, cell=[a, b, top], pbc=True)
            atoms.wrap(pbc=[True, True, periodic_z])
            try:
                # packmol does not see a molecule's own periodic images: check everything
                validate_structure(atoms, where=where)
            except UserError as exc:
                log = str(exc)
                continue
            break
        else:
            last = " ".join(log.split()[-12:])
            raise UserError(
                f"packmol could not pack {contents} into {a:.1f} x {b:.1f} x {h:.1f} Å "
                f"(lower the density, enlarge the box or lower the tolerance); last problem: {last}",
                where,
            )
    atoms.arrays["mol_id"] = mol_id
    atoms.info["molecules"] = {name: n for name, n in contents}
    return atoms


def _fractions(solvent: dict[str, float]) -> dict[str, float]:
    if not solvent:
        raise UserError("solvent must name at least one solvent, e.g. {EC: 1.0}", "solvent")
    for name, frac in solvent.items():
        if name not in SOLVENT_DENSITY:
            raise UserError(f"unknown solvent {name!r}; known: {', '.join(SOLVENT_DENSITY)}", "solvent")
        if not (float(frac) >= 0):
            raise UserError(f"volume fraction of {name} must be >= 0, got {frac}", "solvent")
    total = sum(float(f) for f in solvent.values())
    if total <= 0:
        raise UserError("solvent volume fractions must not all be zero", "solvent")
    return {k: float(v) / total for k, v in solvent.items() if float(v) > 0}


def default_density(solvent: dict[str, float], molarity: float) -> float:
    """Electrolyte density (g/cm^3): ideal mixing of solvent volumes plus 0.10 g/cm^3 per M salt."""
    phi = _fractions(solvent)
    return sum(f * SOLVENT_DENSITY[k] for k, f in phi.items()) + SALT_DENSITY_PER_MOLAR * float(molarity)


def _split(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Integer counts summing to ``total`` in proportion to ``weights`` (largest remainder)."""
    norm = sum(weights.values())
    exact = {k: total * w / norm for k, w in weights.items()}
    counts = {k: int(np.floor(v)) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def electrolyte_composition(
    n_solvent: int | None,
    solvent: dict[str, float],
    molarity: float,
    density: float,
    volume: float | None = None,
) -> dict[str, int]:
    """Molecule counts for ``n_solvent`` solvent molecules, or for a box of ``volume`` Å^3."""
    phi = _fractions(solvent)
    masses = {k: _mass(k) for k in phi}
    mole_w = {k: f * SOLVENT_DENSITY[k] / masses[k] for k, f in phi.items()}  # moles per volume
    m_salt = _mass("Li+") + _mass("PF6")
    if n_solvent is None:
        if volume is None:
            raise UserError("give n_solvent, or both cell_xy and height", "n_solvent")
        n_salt = int(round(molarity * volume * AVOGADRO_A3_PER_L))
        solvent_mass = density * G_CM3_TO_AMU_A3 * volume - n_salt * m_salt
        mean_mass = sum(mole_w[k] * masses[k] for k in phi) / sum(mole_w.values())
        n_solvent = max(1, int(round(solvent_mass / mean_mass)))
        counts = _split(n_solvent, mole_w)
    else:
        if int(n_solvent) < 1:
            raise UserError(f"n_solvent must be >= 1, got {n_solvent}", "n_solvent")
        counts = _split(int(n_solvent), mole_w)
        solvent_mass = sum(counts[k] * masses[k] for k in counts)
        # n_salt = c * V, V = (m_solv + n_salt m_salt) / rho  =>  solve for n_salt
        denom = density * G_CM3_TO_AMU_A3 - molarity * AVOGADRO_A3_PER_L * m_salt
        if denom <= 0:
            raise UserError(f"molarity {molarity} M is impossible at density {density} g/cm^3", "molarity")
        n_salt = int(round(molarity * AVOGADRO_A3_PER_L * solvent_mass / denom))
    out = {k: v for k, v in counts.items() if v > 0}
    if n_salt > 0:
        out.update({"Li+": n_salt, "PF6": n_salt})
    return out


def electrolyte_box(
    n_solvent: int | None = None,
    solvent: dict[str, float] | None = None,
    molarity: float = 1.0,
    density: float | None = None,
    cell_xy: tuple[float, float] | None = None,
    height: float | None = None,
    seed: int = 0,
    tolerance: float = 2.0,
    periodic_z: bool = True,
) -> Atoms:
    """A periodic box of liquid electrolyte: solvent molecules plus Li+/PF6- pairs.

    ``solvent`` maps solvent names (EC, DMC) to volume fractions (default ``{"EC": 1.0}``).
    ``density`` defaults to :func:`default_density` (1.42 g/cm^3 for 1 M LiPF6 in EC, 1.30 for
    1 M in EC:DMC 1:1). Box size: with ``n_solvent`` (default 8 when no ``height`` is given) the
    volume follows from the mass and density, and the box is cubic or, with ``cell_xy``, has that
    cross-section and the matching height; with ``cell_xy`` and ``height`` and no ``n_solvent``
    the molecule counts follow from the volume. The number of salt pairs is
    round(molarity x volume), so small boxes may hold none. ``info['molecules']`` records counts,
    ``info['target_density']`` the density aimed at.
    """
    solvent = {"EC": 1.0} if solvent is None else dict(solvent)
    if molarity < 0:
        raise UserError(f"molarity must be >= 0, got {molarity}", "molarity")
    rho = default_density(solvent, molarity) if density is None else float(density)
    if not rho > 0:
        raise UserError(f"density must be positive, got {density}", "density")
    if cell_xy is not None:
        ax, by = (float(x) for x in cell_xy)
        if ax <= 0 or by <= 0:
            raise UserError(f"cell_xy must be two positive lengths, got {cell_xy!r}", "cell_xy")
    if height is not None:
        if cell_xy is None:
            raise UserError("height needs cell_xy as well", "height")
        if n_solvent is not None:
            raise UserError("give either n_solvent or height, not both (the density fixes the other)", "height")
        if height <= 0:
            raise UserError(f"height must be positive, got {height}", "height")
        volume = ax * by * float(height)
        counts = electrolyte_composition(None, solvent, molarity, rho, volume)
        cell = (ax, by, float(height))
    else:
        counts = electrolyte_composition(8 if n_solvent is None else n_solvent, solvent, molarity, rho)
        mass = sum(_mass(k) * n for k, n in counts.items())
        volume = mass / (rho * G_CM3_TO_AMU_A3)
        if cell_xy is not None:
            cell = (ax, by, volume / (ax * by))
        else:
            side = volume ** (1 / 3)
            cell = (side, side, side)
    order = [k for k in ("EC", "DMC") if k in counts] + [k for k in SALT if k in counts]
    atoms = pack([(k, counts[k]) for k in order], cell, seed=seed, tolerance=tolerance,
                 periodic_z=periodic_z, where="electrolyte_box")
    atoms.info["target_density"] = rho
    atoms.info["molarity"] = float(molarity)
    return finish(atoms, "electrolyte_box")


def ledc_box(n: int = 2, seed: int = 0, density: float = 1.6, tolerance: float = 1.8) -> Atoms:
    """``n`` LEDC molecules, (CH2OCO2Li)2, packed into a cubic periodic box (amorphous organic SEI).

    Uses the folded (Li-bridged) LEDC conformer. Default density 1.6 g/cm^3 (simulated amorphous
    LEDC is ~1.6-1.8) and a 1.8 Å packing tolerance (Li-O contacts between molecules are ~1.9-2 Å in
    the solid).
    """
    if int(n) < 1:
        raise UserError(f"n must be >= 1, got {n}", "n")
    if not density > 0:
        raise UserError(f"density must be positive, got {density}", "density")
    volume = int(n) * _mass("LEDC") / (float(density) * G_CM3_TO_AMU_A3)
    side = volume ** (1 / 3)
    atoms = pack([("LEDC", int(n))], (side, side, side), seed=seed, tolerance=tolerance, where="ledc_box")
    atoms.info["target_density"] = float(density)
    return finish(atoms, "ledc_box")
