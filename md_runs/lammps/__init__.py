"""LAMMPS driver for seimlip models (through the seimlip plugin pair style).

- :func:`write_lammps_data` / :func:`read_dump`: ASE Atoms <-> LAMMPS data files and dumps
  (type map from the model's species; triclinic cells rotated into LAMMPS' frame and back);
- :class:`LammpsProtocol` + :func:`input_script`: minimise, NVT (Nose-Hoover, Langevin), NPT, NVE;
- :func:`run_lammps`: run a protocol in-process (1 rank) or with ``mpiexec -n N lmp``;
- :func:`single_point`: energy, forces, stress of one structure computed by LAMMPS;
- :func:`read_model_devi`: DeePMD's ``model_devi.out`` columns written by committee/heads runs.
"""

from md_runs.lammps.data import LammpsBox, lammps_box, write_lammps_data
from md_runs.lammps.dump import read_dump
from md_runs.lammps.inputs import LammpsProtocol, input_script
from md_runs.lammps.run import LammpsRun, model_uncertainty, read_model_devi, read_thermo, run_lammps, single_point

__all__ = [
    "LammpsBox",
    "LammpsProtocol",
    "LammpsRun",
    "input_script",
    "lammps_box",
    "model_uncertainty",
    "read_dump",
    "read_model_devi",
    "read_thermo",
    "run_lammps",
    "single_point",
    "write_lammps_data",
]
