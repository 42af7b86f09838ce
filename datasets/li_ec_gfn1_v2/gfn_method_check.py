"""GFN1-xTB against GFN2-xTB on the two phases that decide the reference method: the pressure of
perfect bcc Li and rocksalt LiF cells at a few lattice constants (tblite, 3000 K, Γ point).

    OMP_NUM_THREADS=1 python datasets/li_ec_gfn1_v2/gfn_method_check.py GFN2-xTB Li 4 3.30,3.44,3.60
    OMP_NUM_THREADS=1 python datasets/li_ec_gfn1_v2/gfn_method_check.py GFN2-xTB LiF 3 3.95,4.03,4.10

(method, phase, repeat of the cubic cell, lattice constants in Å). Prints one line per lattice
constant: energy per atom (eV) and pressure (GPa). Results are quoted in README.md.
"""

import sys
import time

import numpy as np
from ase.build import bulk
from tblite.ase import TBLite

from md_runs.builders.crystals import sei_phase


def cell(phase: str, a: float, repeat: int):
    if phase == "Li":
        return bulk("Li", "bcc", a=a, cubic=True).repeat(repeat)
    atoms = sei_phase(phase, (repeat, repeat, repeat))
    atoms.set_cell(atoms.cell * (a * repeat / atoms.cell.lengths()[0]), scale_atoms=True)
    return atoms


def main(method: str, phase: str, repeat: str, lattice: str) -> None:
    for a in map(float, lattice.split(",")):
        atoms = cell(phase, a, int(repeat))
        atoms.calc = TBLite(method=method, electronic_temperature=3000.0, verbosity=0)
        t = time.time()
        e = atoms.get_potential_energy() / len(atoms)
        p = -np.trace(atoms.get_stress(voigt=False)) / 3 * 160.21766
        print(f"{method} {phase} n={len(atoms)} a={a:.3f} A  E/atom={e:.4f} eV  P={p:.2f} GPa  "
              f"({time.time() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
