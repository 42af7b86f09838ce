"""LAMMPS input scripts for seimlip models: minimise, NVT (Nose-Hoover, Langevin), NPT, NVE.

Every script reads a data file written by :func:`md_runs.lammps.data.write_lammps_data`, uses
``pair_style seimlip`` (units metal, newton on), and for a model with uncertainty (a committee, or
readout heads) adds ``compute seimlip_dev all seimlip/atom`` (per-atom force deviation of a
committee, the heads' per-atom energy spread otherwise: in dumps, its maximum in the thermo
output), DeePMD's ``model_devi.out`` (``pair_style seimlip ... out_freq N out_file
model_devi.out``: step, max/min/avg devi_e, max/min/avg devi_f) and optionally ``fix halt`` on the
maximum deviation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

from pydantic import Field, model_validator

from mlip.config import StrictModel

Ensemble = Literal["minimize", "nve", "nvt", "nvt-langevin", "npt"]
MODEL_DEVI_FILE = "model_devi.out"


class LammpsProtocol(StrictModel):
    """What to run. Times in fs, temperature in K, pressure in bar (LAMMPS metal units)."""

    ensemble: Ensemble = "nvt"
    steps: int = Field(1000, ge=0, description="MD steps (or the minimiser's max iterations)")
    timestep_fs: float = Field(0.5, gt=0)
    temperature: float = Field(300.0, ge=0)
    temperature_end: float | None = Field(None, ge=0, description="ramp target (default: temperature)")
    pressure_bar: float = 1.0
    barostat: Literal["iso", "aniso", "tri"] = "iso"
    tdamp_fs: float = Field(100.0, gt=0)
    pdamp_fs: float = Field(1000.0, gt=0)
    seed: int = Field(12345, ge=1, description="velocity and Langevin seed")
    init_velocities: bool = Field(True, description="draw Maxwell-Boltzmann velocities (else keep the data file's)")
    thermo_every: int = Field(100, ge=1)
    dump_every: int = Field(100, ge=0, description="0: no trajectory dump")
    etol: float = Field(0.0, ge=0)
    ftol: float = Field(1e-3, ge=0, description="minimiser force tolerance (eV/Å)")
    relax_box: bool = Field(False, description="minimise the cell too (fix box/relax)")
    halt_force_dev: float | None = Field(None, gt=0, description="committee or heads: stop when the max "
                                         "deviation exceeds this (eV/Å)")
    model_devi_every: int | None = Field(None, ge=1, description="committee or heads: write model_devi.out "
                                         "every N steps (default: dump_every, else thermo_every)")
    halt_every: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "LammpsProtocol":
        if self.ensemble in ("nvt", "nvt-langevin", "npt") and self.temperature <= 0:
            raise ValueError(f"ensemble {self.ensemble} needs temperature > 0")
        return self


def input_script(protocol: LammpsProtocol, *, data_file: str | Path, model_file: str | Path,
                 species: Sequence[str], committee: bool = False, heads: bool = False, triclinic: bool = False,
                 boundary: str = "p p p", plugin_path: str | Path | None = None,
                 dump_file: str | Path = "dump.lammpstrj", final_data: str | Path | None = "final.data",
                 pair_options: str = "") -> str:
    """The LAMMPS input text for ``protocol``.

    ``plugin_path`` adds ``plugin load`` (needed when the entry-point auto-load is not active);
    ``pair_options`` goes after the model file (``device cpu|cuda``, ``graph auto|images|ghosts|halo``).
    ``committee`` / ``heads``: the model carries uncertainty (members / readout heads).
    """
    p = protocol
    dt_ps = p.timestep_fs / 1000.0
    t0 = p.temperature
    t1 = p.temperature if p.temperature_end is None else p.temperature_end
    lines = [
        f"# seimlip {p.ensemble}: {p.steps} steps",
        "units metal",
        "atom_style atomic",
        "atom_modify map yes",
        f"boundary {boundary}",
        "newton on",
    ]
    if plugin_path:
        lines.append(f"plugin load {plugin_path}")
    lines += [
        f"read_data {data_file}",
    ]
    if p.ensemble == "npt" and p.barostat == "tri" and not triclinic:
        lines.append("change_box all triclinic")
    uncertain = committee or heads
    pair_line = f"pair_style seimlip {model_file} {pair_options}".strip()
    if uncertain:
        every = p.model_devi_every or p.dump_every or p.thermo_every
        pair_line += f" out_freq {every} out_file {MODEL_DEVI_FILE}"
    lines += [
        pair_line,
        f"pair_coeff * * {' '.join(species)}",
        "neighbor 1.0 bin",
        "neigh_modify every 1 delay 0 check yes",
        f"timestep {dt_ps:.10g}",
        "compute seimlip_pe all pe/atom",
    ]
    thermo = "step time temp pe ke etotal press vol"
    dump_cols = "id type x y z vx vy vz fx fy fz c_seimlip_pe"
    if uncertain:
        lines += ["compute seimlip_dev all seimlip/atom", "variable seimlip_maxdev equal c_seimlip_dev"]
        thermo += " v_seimlip_maxdev"
        dump_cols += " c_seimlip_dev"
    lines.append(f"thermo_style custom {thermo}")
    lines.append(f"thermo {p.thermo_every}")
    lines.append("thermo_modify flush yes format float %.15g")
    if p.dump_every:
        lines.append(f"dump traj all custom {p.dump_every} {dump_file} {dump_cols}")
        lines.append("dump_modify traj sort id format float %.10g")
    if uncertain and p.halt_force_dev is not None:
        lines.append(f"fix seimlip_halt all halt {p.halt_every} v_seimlip_maxdev > {p.halt_force_dev} error soft")

    if p.ensemble == "minimize":
        if p.relax_box:
            couple = "tri" if triclinic else ("aniso" if p.barostat == "tri" else p.barostat)
            lines.append(f"fix relax all box/relax {couple} {p.pressure_bar} vmax 0.001")
        lines += ["min_style cg", f"minimize {p.etol} {p.ftol} {p.steps} {10 * max(p.steps, 1)}"]
    else:
        if p.init_velocities and t0 > 0:
            lines.append(f"velocity all create {t0} {p.seed} mom yes rot no dist gaussian")
        tdamp = p.tdamp_fs / 1000.0
        if p.ensemble == "nve":
            lines.append("fix integrate all nve")
        elif p.ensemble == "nvt":
            lines.append(f"fix integrate all nvt temp {t0} {t1} {tdamp:.10g}")
        elif p.ensemble == "nvt-langevin":
            lines += ["fix integrate all nve",
                      f"fix thermostat all langevin {t0} {t1} {tdamp:.10g} {p.seed} zero yes"]
        elif p.ensemble == "npt":
            lines.append(f"fix integrate all npt temp {t0} {t1} {tdamp:.10g} {p.barostat} "
                         f"{p.pressure_bar} {p.pressure_bar} {p.pdamp_fs / 1000.0:.10g}")
        lines.append(f"run {p.steps}")
    lines.append("write_dump all custom final.lammpstrj id type x y z vx vy vz fx fy fz "
                 "modify sort id format float %.17g")
    if final_data:
        lines.append(f"write_data {final_data}")
    return "\n".join(lines) + "\n"
