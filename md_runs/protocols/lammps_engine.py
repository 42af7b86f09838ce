"""LAMMPS engine for protocols: MD in chunks of ``intervals.restart`` steps, one restart per chunk.

Each chunk is one LAMMPS instance (in-process with 1 rank, ``mpiexec lmp`` with more) that reads
the previous chunk's binary restart (thermostat state included), runs ``run <end> upto`` with
``fix halt`` monitors, and writes the next restart. Dumps continue with ``dump_modify append yes
delay <start+1>``, so no frame is written twice; after a kill the dump is first cut back to the
last restart's step. thermo.csv is rebuilt from the chunk logs after every chunk.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
from ase import Atoms

from md_runs.lammps.data import write_lammps_data
from md_runs.lammps.dump import read_dump
from md_runs.lammps.run import _lammps_error, model_file, read_thermo
from md_runs.protocols.config import ProtocolBase
from md_runs.protocols.files import (EXTRA_COLUMNS, prune_restarts, readable_restarts, restart_files, restart_name,
                                     truncate_dump, write_thermo_csv)
from md_runs.protocols.monitors import (MONITORS, MonitorStop, check_drift, describe, temperature_limit,
                                        write_candidates)
from md_runs.protocols.stage import ProgressHook, Stage
from mlip.errors import UserError

_HALT_RE = re.compile(r"Fix halt condition for fix-id (\S+) met on step (\d+) with value (\S+)")
_THERMO = "step time temp pe ke etotal press vol ecouple econserve v_seimlip_mindist"
_NO_PAIR = 1e10  # compute reduce min over an empty list gives 1e20


class LammpsEngine:
    trajectory_name = "trajectory.lammpstrj"

    def __init__(self, config: ProtocolBase):
        self.config = config
        self.model_path, meta = model_file(config.model)
        self.species = [str(s) for s in meta["species"]]
        self.committee = int(meta["n_members"]) > 1

    # --- building blocks ---------------------------------------------------------------------
    def prepare(self, atoms: Atoms, folder: Path) -> Path:
        path = folder / "initial.data"
        if not path.exists():
            write_lammps_data(path, atoms, self.species, velocities=False)
        return path

    def _setup(self, read: str) -> list[str]:
        lines = ["units metal", "atom_style atomic", "atom_modify map yes", "boundary p p p", "newton on"]
        if read.startswith("read_restart"):
            lines = ["units metal"]
        if self.config.nprocs > 1:
            from mlip.deploy.plugin import lammps_plugin_path

            lines.append(f"plugin load {lammps_plugin_path()}")
        lines += [read,
                  f"pair_style seimlip {self.model_path} {self.config.pair_options}".strip(),
                  f"pair_coeff * * {' '.join(self.species)}",
                  "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
                  f"timestep {self.config.timestep_fs / 1000.0:.10g}"]
        if self.committee:
            lines += ["compute seimlip_dev all seimlip/atom", "variable seimlip_maxdev equal c_seimlip_dev"]
        return lines

    def _execute(self, lines: list[str], folder: Path, log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        if self.config.nprocs <= 1:
            from mlip.deploy.lammps_runtime import new_lammps

            lmp = new_lammps(log=log)
            try:
                lmp.commands_list(lines)
            except Exception as exc:  # LAMMPS raises plain Exceptions with its error message
                raise UserError(f"{_lammps_error(exc)} (log: {log})") from None
            finally:
                lmp.close()
            return
        from mlip.deploy.lammps_runtime import lmp_executable, mpiexec

        script = folder / "in.chunk.lammps"
        script.write_text("\n".join(lines) + "\n")
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        proc = subprocess.run([mpiexec(), "-n", str(self.config.nprocs), lmp_executable(), "-in", str(script),
                               "-log", str(log), "-nocite", "-screen", "none"], cwd=folder, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout or "").strip().splitlines()[-3:]
            raise UserError("LAMMPS failed: " + " | ".join(tail), str(log))

    def minimise(self, state: Path, folder: Path, max_iterations: int) -> Path:
        final = folder / "final.data"
        if final.exists():
            return final
        if max_iterations <= 0:
            return state
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "final.part.data"
        ftol = self.config.thermostat.ftol
        lines = self._setup(f"read_data {state}") + [
            "thermo_style custom step pe fnorm fmax", "thermo 10", "min_style cg",
            f"minimize 0 {ftol} {max_iterations} {10 * max_iterations}", f"write_data {tmp}"]
        self._execute(lines, folder, folder / "log.lammps")
        os.replace(tmp, final)
        return final

    # --- MD in chunks --------------------------------------------------------------------------
    def _chunk(self, stage: Stage, read: str, start: int, end: int, velocities: bool, final: Path | None) -> list[str]:
        c, mon = self.config, self.config.monitors
        t = stage.temperature
        tdamp = c.thermostat.tdamp_fs / 1000.0
        lines = self._setup(read)
        if read.startswith("read_data") and stage.ensemble == "npt" and c.thermostat.barostat == "tri":
            lines.append("change_box all triclinic")
        thermo = _THERMO + (" v_seimlip_maxdev" if self.committee else "")
        lines += ["compute seimlip_pairs all pair/local dist",
                  "compute seimlip_closest all reduce min c_seimlip_pairs inputs local",
                  "variable seimlip_mindist equal c_seimlip_closest", "variable seimlip_temp equal temp",
                  f"thermo_style custom {thermo}", f"thermo {c.intervals.thermo}",
                  "thermo_modify flush yes format float %.15g"]
        if velocities:
            lines.append(f"velocity all create {t} {stage.seed} mom yes rot no dist gaussian")
        if stage.ensemble == "nvt":
            lines.append(f"fix integrate all nvt temp {t} {t} {tdamp:.10g}")
        else:
            p = c.thermostat.pressure_bar
            lines.append(f"fix integrate all npt temp {t} {t} {tdamp:.10g} {c.thermostat.barostat} {p} {p} "
                         f"{c.thermostat.pdamp_fs / 1000.0:.10g}")
        cols = "id type xu yu zu vx vy vz" + (" c_seimlip_dev" if self.committee else "")
        modify = "dump_modify traj sort id format float %.10g" + (f" append yes delay {start + 1}" if start else "")
        lines += [f"dump traj all custom {c.intervals.dump} {stage.folder / self.trajectory_name} {cols}", modify]
        every = mon.check_every
        if mon.min_distance_A is not None:
            lines.append(f"fix {MONITORS['min_distance'][0]} all halt {every} v_seimlip_mindist < {mon.min_distance_A} error soft")
        t_max = temperature_limit(mon, t)
        if t_max is not None:
            lines.append(f"fix {MONITORS['temperature'][0]} all halt {every} v_seimlip_temp > {t_max} error soft")
        if self.committee and mon.max_force_dev_eV_A is not None:
            lines.append(f"fix {MONITORS['force_deviation'][0]} all halt {every} v_seimlip_maxdev > {mon.max_force_dev_eV_A} error soft")
        lines += [f"run {end} upto", f"write_restart {stage.folder / 'restart.part'}"]
        if final is not None:
            lines.append(f"write_data {final}")
        return lines

    def _thermo_rows(self, stage: Stage, upto: int) -> dict[str, np.ndarray]:
        """thermo.csv columns rebuilt from the stage's chunk logs (steps <= ``upto``, no duplicates)."""
        blocks = [read_thermo(log) for log in sorted((stage.folder / "logs").glob("chunk_*.log"))]
        blocks = [b for b in blocks if b and "Step" in b]
        if not blocks:
            return {}
        data = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
        steps = data["Step"].astype(int)
        _, first = np.unique(steps, return_index=True)
        keep = first[steps[first] <= upto]
        d = {k: v[keep] for k, v in data.items()}
        closest = np.where(d["v_seimlip_mindist"] > _NO_PAIR, np.nan, d["v_seimlip_mindist"])
        rows = {"time_ps": d["Step"] * self.config.timestep_fs / 1000.0, "temperature_K": d["Temp"],
                "potential_eV": d["PotEng"], "kinetic_eV": d["KinEng"], "total_eV": d["TotEng"],
                "pressure_bar": d["Press"], "volume_A3": d["Volume"], "step": d["Step"],
                "conserved_eV": d["Econserve"], "min_distance_A": closest}
        if "v_seimlip_maxdev" in d:
            rows["max_force_dev_eV_A"] = d["v_seimlip_maxdev"]
        return rows

    def md(self, stage: Stage, state: Path, progress: ProgressHook) -> Path:
        folder = stage.folder
        folder.mkdir(parents=True, exist_ok=True)
        final, restarts, logs = folder / "final.data", folder / "restart", folder / "logs"
        done = readable_restarts(restarts, self._readable_restart)
        step = done[-1][0] if done else 0
        if final.exists() and step >= stage.steps:
            progress(stage.name, stage.steps, stage.steps)
            return final
        # cut everything a killed chunk wrote after the last restart
        truncate_dump(folder / self.trajectory_name, step if done else -1)
        for log in logs.glob("chunk_*.log"):
            if int(log.stem.split("_")[1]) >= step:
                log.unlink()
        rows = self._thermo_rows(stage, step)
        write_thermo_csv(folder / "thermo.csv", rows, EXTRA_COLUMNS + ("max_force_dev_eV_A",))
        progress(stage.name, step, stage.steps)
        every, n_atoms = self.config.intervals.restart, self._n_atoms(state)
        while step < stage.steps:
            end = min((step // every + 1) * every, stage.steps)
            read = f"read_restart {done[-1][1]}" if done else f"read_data {state}"
            part = folder / "final.part.data" if end == stage.steps else None
            log = logs / f"chunk_{step:012d}.log"
            self._execute(self._chunk(stage, read, step, end, stage.init_velocities and not done, part), folder, log)
            halt = self._halt(log.read_text(), stage.temperature)
            reached = halt[0] if halt else end
            rows = self._thermo_rows(stage, reached)
            checkpoint = restarts / restart_name(reached, "restart")
            restarts.mkdir(exist_ok=True)
            os.replace(folder / "restart.part", checkpoint)
            prune_restarts(restarts)
            done = restart_files(restarts)
            write_thermo_csv(folder / "thermo.csv", rows, EXTRA_COLUMNS + ("max_force_dev_eV_A",))
            if stage.on_chunk is not None:
                stage.on_chunk(reached)
            progress(stage.name, reached, stage.steps)
            fired = halt[1:] if halt else check_drift(rows["conserved_eV"], n_atoms, self.config.monitors)
            if fired:
                if part is not None:
                    part.unlink(missing_ok=True)
                self._stop(stage, checkpoint, reached, *fired)
            step = reached
        os.replace(folder / "final.part.data", final)
        return final

    @staticmethod
    def _readable_restart(path: Path) -> bool:
        """Whether LAMMPS reads the binary restart ``path`` (a truncated one stops with an error)."""
        from mlip.deploy.lammps_runtime import new_lammps

        lmp = new_lammps(load_plugin=False)
        try:
            lmp.commands_list(["units metal", f"read_restart {path}"])
            return True
        except Exception:  # LAMMPS raises plain Exceptions with its error message
            return False
        finally:
            lmp.close()

    def _halt(self, log_text: str, temperature: float) -> tuple[int, str, float, float] | None:
        """(step, monitor, value, limit) when a ``fix halt`` monitor stopped the chunk."""
        m = _HALT_RE.search(log_text)
        if m is None:
            return None
        monitor = next(k for k, (fix, _) in MONITORS.items() if fix == m.group(1))
        mon = self.config.monitors
        limit = {"min_distance": mon.min_distance_A, "force_deviation": mon.max_force_dev_eV_A,
                 "temperature": temperature_limit(mon, temperature)}[monitor]
        return int(m.group(2)), monitor, float(m.group(3)), float(limit)

    @staticmethod
    def _n_atoms(state: Path) -> int:
        with open(state) as fh:
            for line in fh:
                if line.strip().endswith(" atoms"):
                    return int(line.split()[0])
        raise UserError("data file without an atom count", str(state))

    def final_frame(self, checkpoint: Path, folder: Path) -> Atoms:
        """The checkpoint's structure with forces (and committee deviations): one ``run 0``."""
        out = folder / "stopped.lammpstrj"
        cols = "id type xu yu zu vx vy vz fx fy fz" + (" c_seimlip_dev" if self.committee else "")
        lines = self._setup(f"read_restart {checkpoint}") + [
            f"dump stop all custom 1 {out} {cols}", "dump_modify stop sort id format float %.12g", "run 0"]
        self._execute(lines, folder, folder / "logs" / "stopped.log")
        return read_dump(out, self.species, -1)[0]

    def _stop(self, stage: Stage, checkpoint: Path, step: int, monitor: str, value: float, limit: float) -> None:
        message = describe(monitor, value, limit)
        frame = self.final_frame(checkpoint, stage.folder)
        path = write_candidates(stage.run_dir, [frame], monitor, message)
        raise MonitorStop(monitor, f"{stage.run_dir.name} ({stage.name}, step {step}): {message}; "
                          f"checkpoint {checkpoint}; candidate frame in {path}", stage.run_dir, step, checkpoint)
