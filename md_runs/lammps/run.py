"""Run LAMMPS with a seimlip model: single points, MD and minimisation, in-process or on MPI ranks."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from md_runs.lammps.data import LammpsBox, write_lammps_data
from md_runs.lammps.dump import read_dump
from md_runs.lammps.inputs import MODEL_DEVI_FILE, LammpsProtocol, input_script
from mlip.errors import UserError


def model_file(model: str | os.PathLike) -> tuple[Path, dict]:
    """(deployed file, its metadata) for a file path or a shipped model's name."""
    from mlip.deploy.format import read_metadata
    from mlip.model.io import resolve_model_path  # torch: imported when a model is named, not at startup

    path = resolve_model_path(model)
    return path.resolve(), read_metadata(path)


def lammps_model_file(model: str | os.PathLike) -> tuple[Path, dict]:
    """:func:`model_file`, refusing a deployed file LAMMPS cannot load (not TorchScript)."""
    path, meta = model_file(model)
    if meta.get("module_format", "torchscript") != "torchscript":
        raise UserError("LAMMPS loads TorchScript deployed files: deploy with `seimlip deploy --format "
                        "torchscript` (a torch.export file serves the ASE calculator)", str(path))
    return path, meta


def model_uncertainty(meta: dict) -> str | None:
    """``"committee"``, ``"heads"`` (readout heads > 1) or None: what a deployed model's spread is."""
    from mlip.deploy.format import readout_heads

    if int(meta.get("n_members", 1)) > 1:
        return "committee"
    return "heads" if readout_heads(meta) > 1 else None


def read_model_devi(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """DeePMD-style ``model_devi.out`` columns (``step``, ``max_devi_e`` ... ``avg_devi_f``) as
    arrays; a step written twice (a rerun of ``run 0``) keeps its last line."""
    path = Path(path)
    names: list[str] = []
    rows: dict[int, list[float]] = {}
    for line in path.read_text().splitlines():
        words = line.lstrip("#").split()
        if line.startswith("#"):
            if words[:1] == ["step"]:
                names = words
            continue
        if names and len(words) == len(names):
            rows[int(float(words[0]))] = [float(w) for w in words]
    if not names:
        raise UserError("not a model deviation file (no '# step max_devi_e ...' header)", str(path))
    data = np.array([rows[k] for k in sorted(rows)], dtype=float).reshape(-1, len(names))
    out = {name: data[:, k] for k, name in enumerate(names)}
    out["step"] = out["step"].astype(int)
    return out


def _lammps_error(exc: Exception) -> UserError:
    text = str(exc).strip() or type(exc).__name__
    return UserError(f"LAMMPS: {text.splitlines()[-1] if text else text}")


def single_point(atoms: Atoms, model: str | os.PathLike, workdir: str | os.PathLike | None = None,
                 pair_options: str = "") -> dict[str, Any]:
    """Energy (eV), forces (eV/Å), stress (ASE Voigt, eV/Å^3; 3D-periodic only) and per-atom
    energies of ``atoms`` computed by LAMMPS through the seimlip plugin (one rank, in-process).
    A committee model also gives ``energy_std``, ``force_dev`` and ``max_force_dev``.
    ``pair_options`` is appended to ``pair_style seimlip <model>`` (e.g. ``graph ghosts``).
    """
    from mlip.deploy.lammps_runtime import import_lammps, new_lammps

    lammps = import_lammps()
    LMP_STYLE_ATOM, LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR = (lammps.LMP_STYLE_ATOM, lammps.LMP_STYLE_GLOBAL,
                                                         lammps.LMP_TYPE_VECTOR)

    path, meta = lammps_model_file(model)
    species = list(meta["species"])
    committee = int(meta["n_members"]) > 1
    with tempfile.TemporaryDirectory(prefix="seimlip-sp-", dir=workdir) as tmp:
        data = Path(tmp) / "atoms.data"
        box, types = write_lammps_data(data, atoms, species, velocities=False)
        lmp = new_lammps()
        try:
            lines = [
                "units metal", "atom_style atomic", "atom_modify map yes", f"boundary {box.boundary}",
                "newton on", f"read_data {data}", f"pair_style seimlip {path} {pair_options}".strip(),
                f"pair_coeff * * {' '.join(types)}", "neighbor 1.0 bin",
                "compute seimlip_pe all pe/atom", "compute seimlip_vir all pressure NULL virial",
                "thermo_style custom step pe press",
            ]
            if committee:
                lines.append("compute seimlip_dev all seimlip/atom")
            try:
                lmp.commands_list(lines + ["run 0"])
            except Exception as exc:  # LAMMPS raises plain Exceptions with its error message
                raise _lammps_error(exc) from None
            n = len(atoms)
            energy = float(lmp.get_thermo("pe"))
            forces = np.array(lmp.gather_atoms("f", 1, 3), dtype=float).reshape(n, 3)
            energies = np.array(lmp.gather("c_seimlip_pe", 1, 1), dtype=float).reshape(n)
            out: dict[str, Any] = {"energy": energy, "forces": box.to_ase_vectors(forces), "energies": energies}
            if box.boundary == "p p p":
                vir = lmp.extract_compute("seimlip_vir", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)
                p = np.array([vir[k] for k in range(6)]) / float(lmp.extract_global("nktv2p"))
                # pressure tensor (virial part) xx yy zz xy xz yz -> stress = -p, rotated to ASE
                s = -np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]])
                s = box.to_ase_stress(s)
                out["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
            if committee:
                lmp.extract_compute("seimlip_dev", LMP_STYLE_ATOM, 1)  # invoke it this step
                vec = lmp.extract_compute("seimlip_dev", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR)
                out["max_force_dev"] = float(vec[0])
                out["energy_std"] = float(vec[1])
                out["force_dev"] = np.array(lmp.gather("c_seimlip_dev", 1, 1), dtype=float).reshape(n)
        finally:
            lmp.close()
    return out


@dataclass
class LammpsRun:
    """Outputs of :func:`run_lammps`."""

    workdir: Path
    species: list[str]
    box: LammpsBox
    thermo: dict[str, np.ndarray] = field(default_factory=dict)
    halted: bool = False

    def frames(self, index=slice(None)) -> list[Atoms]:
        """Trajectory frames (ASE frame orientation) from the dump."""
        return read_dump(self.workdir / "dump.lammpstrj", self.species, index, self.box.rotation)

    def model_devi(self) -> dict[str, np.ndarray] | None:
        """The run's ``model_devi.out`` (committee or heads models), or None without one."""
        path = self.workdir / MODEL_DEVI_FILE
        return read_model_devi(path) if path.exists() else None

    def final(self) -> Atoms:
        """The structure (positions, velocities, forces, cell) at the end of the run."""
        return read_dump(self.workdir / "final.lammpstrj", self.species, -1, self.box.rotation)[0]


def read_thermo(log: str | os.PathLike) -> dict[str, np.ndarray]:
    """Thermo columns of a LAMMPS log as arrays keyed by column name (runs with the same columns
    as the last run are concatenated)."""
    blocks: dict[tuple[str, ...], list[list[float]]] = {}
    columns: tuple[str, ...] | None = None
    last: tuple[str, ...] | None = None
    for line in Path(log).read_text().splitlines():
        words = line.split()
        if words[:1] == ["Step"]:
            columns = last = tuple(words)
            continue
        if columns is None:
            continue
        if line.startswith("Loop time"):
            columns = None
            continue
        if len(words) != len(columns):
            continue
        try:
            blocks.setdefault(columns, []).append([float(w) for w in words])
        except ValueError:
            continue
    if last is None or last not in blocks:
        return {}
    data = np.array(blocks[last])
    return {name: data[:, k] for k, name in enumerate(last)}


def run_lammps(atoms: Atoms, model: str | os.PathLike, protocol: LammpsProtocol | dict | None = None,
               workdir: str | os.PathLike = "lammps_run", nprocs: int = 1, screen: bool = False,
               pair_options: str = "") -> LammpsRun:
    """Run ``protocol`` (see :class:`LammpsProtocol`) on ``atoms`` with a seimlip model.

    One rank runs in-process through the Python module; ``nprocs > 1`` runs
    ``mpiexec -n nprocs lmp -in in.lammps`` in ``workdir``. Writes ``atoms.data``, ``in.lammps``,
    ``log.lammps``, ``dump.lammpstrj``, ``final.lammpstrj`` and ``final.data`` there, and for a
    committee or readout-heads model DeePMD's ``model_devi.out`` (:meth:`LammpsRun.model_devi`).
    ``pair_options`` is appended to the ``pair_style seimlip`` line (``device cuda``, ``graph ghosts``).
    """
    from mlip.config import validate
    from mlip.deploy.lammps_runtime import lmp_executable, mpiexec, new_lammps
    from mlip.deploy.plugin import lammps_plugin_path

    if protocol is None:
        protocol = LammpsProtocol()
    elif isinstance(protocol, dict):
        protocol = validate(LammpsProtocol, protocol, "LAMMPS protocol")
    path, meta = lammps_model_file(model)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    box, types = write_lammps_data(workdir / "atoms.data", atoms, meta["species"])
    uncertainty = model_uncertainty(meta)
    script = input_script(protocol, data_file="atoms.data", model_file=path, species=types,
                          committee=uncertainty == "committee", heads=uncertainty == "heads",
                          triclinic=box.triclinic, boundary=box.boundary,
                          pair_options=pair_options,
                          plugin_path=lammps_plugin_path() if nprocs > 1 else None)
    (workdir / "in.lammps").write_text(script)
    log = workdir / "log.lammps"
    if nprocs <= 1:
        cwd = os.getcwd()
        os.chdir(workdir)
        lmp = new_lammps(screen=screen, log=log)
        try:
            lmp.file("in.lammps")
        except Exception as exc:
            raise _lammps_error(exc) from None
        finally:
            lmp.close()
            os.chdir(cwd)
    else:
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        proc = subprocess.run([mpiexec(), "-n", str(nprocs), lmp_executable(), "-in", "in.lammps",
                               "-log", "log.lammps", "-nocite"], cwd=workdir, env=env,
                              stdout=None if screen else subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout or "").strip().splitlines()[-5:]
            raise UserError("LAMMPS failed: " + " | ".join(tail), str(workdir))
    text = log.read_text() if log.exists() else ""
    return LammpsRun(workdir, list(types), box, read_thermo(log) if log.exists() else {},
                     halted="Fix halt condition" in text)
