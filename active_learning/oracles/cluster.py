"""VASP, Quantum ESPRESSO and GPAW oracles: ASE calculators configured the way cluster users do.

They are not runnable on the development machine (no licensed VASP, no pw.x, no GPAW), so what
is tested here is config validation, calculator construction and the recorded failure when the
program is missing. Each call runs in its own scratch directory (``workdir`` picks the parent:
put it on the cluster's fast scratch), asks for stress and forces, and checks electronic
convergence before anything counts as a label.

Where the programs and data come from (the usual ASE environment variables):

- VASP: ``command`` or ``$ASE_VASP_COMMAND`` / ``$VASP_COMMAND`` (e.g. ``srun vasp_std``) or
  ``$VASP_SCRIPT``; POTCARs from ``pp_path`` or ``$VASP_PP_PATH``.
- Quantum ESPRESSO: ``command`` or ``$ASE_ESPRESSO_COMMAND`` or ``pw.x``; UPF files from
  ``pseudo_dir`` or ``$ESPRESSO_PSEUDO`` or ``~/espresso/pseudo``.
- GPAW: runs inside the worker (``pip install gpaw``); PAW setups from ``$GPAW_SETUP_PATH``.
"""

from __future__ import annotations

import copy
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ase import Atoms

from active_learning.oracles.base import CalculatorOracle, OracleFailure, find_executable, scratch_dir
from active_learning.oracles.config import EspressoConfig, GPAWConfig, VaspConfig

VASP_COMMAND_VARS = ("ASE_VASP_COMMAND", "VASP_COMMAND")


class VaspOracle(CalculatorOracle):
    def __init__(self, config: VaspConfig | None = None):
        self.config = config or VaspConfig()
        self.name = f"vasp/{self.config.xc}"

    def command(self) -> str | None:
        if self.config.command:
            return self.config.command
        for var in VASP_COMMAND_VARS:
            if os.environ.get(var):
                return os.environ[var]
        if os.environ.get("VASP_SCRIPT"):
            return f"python {os.environ['VASP_SCRIPT']}"
        return None

    def preflight(self) -> None:
        command = self.command()
        if command is None:
            raise OracleFailure(
                "executable_not_found: vasp executable not found "
                "(set `command:` or $ASE_VASP_COMMAND, e.g. 'srun vasp_std')"
            )
        hint = None if os.environ.get("VASP_SCRIPT") and not self.config.command else "vasp"
        if find_executable(command, hint=hint) is None:
            raise OracleFailure(f"executable_not_found: vasp executable not found: {command!r}")
        pp_path = self.config.pp_path or os.environ.get("VASP_PP_PATH")
        if not pp_path or not Path(pp_path).is_dir():
            raise OracleFailure("setup: VASP pseudopotentials not found (set `pp_path:` or $VASP_PP_PATH)")
        os.environ["VASP_PP_PATH"] = pp_path  # ASE reads POTCARs from here

    def calculator_kwargs(self, directory: str) -> dict:
        c = self.config
        kwargs = dict(
            command=self.command(),
            directory=directory,
            xc=c.xc,
            encut=c.encut,
            ismear=c.ismear,
            sigma=c.sigma,
            ediff=c.ediff,
            nelm=c.nelm,
            prec=c.prec,
            lreal=c.lreal,
            algo=c.algo,
            setups=dict(c.setups),
            ibrion=-1,
            nsw=0,
            isif=2,  # stress computed, cell and ions fixed
            lwave=False,
            lcharg=False,
        )
        if c.kspacing is not None:
            kwargs["kspacing"] = c.kspacing
        else:
            kwargs["kpts"] = c.kpts
            kwargs["gamma"] = c.gamma
        kwargs.update(c.extra)
        return kwargs

    @contextmanager
    def calculator(self, frame: Atoms) -> Iterator:
        from ase.calculators.vasp import Vasp

        with scratch_dir(self.config.workdir, self.config.keep_files, "vasp-") as work:
            calc = Vasp(**self.calculator_kwargs(str(work)))
            yield calc
            if getattr(calc, "converged", None) is False:
                raise OracleFailure("scf_not_converged: VASP did not reach EDIFF within NELM steps")


class EspressoOracle(CalculatorOracle):
    def __init__(self, config: EspressoConfig | None = None):
        self.config = config or EspressoConfig()
        self.name = "espresso/pw.x"

    def command(self) -> str:
        return self.config.command or os.environ.get("ASE_ESPRESSO_COMMAND") or "pw.x"

    def pseudo_dir(self) -> str:
        return (
            self.config.pseudo_dir
            or os.environ.get("ESPRESSO_PSEUDO")
            or str(Path.home() / "espresso" / "pseudo")
        )

    def preflight(self) -> None:
        if find_executable(self.command(), hint="pw") is None:
            raise OracleFailure(f"executable_not_found: espresso executable not found: {self.command()!r}")

    def input_data(self) -> dict:
        c = self.config
        data = {
            "control": {"calculation": "scf", "tprnfor": True, "tstress": True, "disk_io": "none"},
            "system": {
                "ecutwfc": c.ecutwfc,
                "occupations": "smearing",
                "smearing": c.smearing,
                "degauss": c.degauss,
            },
            "electrons": {
                "conv_thr": c.conv_thr,
                "electron_maxstep": c.electron_maxstep,
                "mixing_beta": c.mixing_beta,
            },
        }
        if c.ecutrho is not None:
            data["system"]["ecutrho"] = c.ecutrho
        for section, values in c.input_data.items():
            if isinstance(values, dict):
                data.setdefault(section, {}).update(values)
            else:
                data[section] = values
        return copy.deepcopy(data)

    def calculator_kwargs(self, frame: Atoms, directory: str) -> dict:
        from ase.calculators.espresso import EspressoProfile

        elements = sorted(set(frame.get_chemical_symbols()))
        missing = [e for e in elements if e not in self.config.pseudopotentials]
        if missing:
            raise OracleFailure(f"setup: no pseudopotential given for {', '.join(missing)} (pseudopotentials:)")
        return dict(
            profile=EspressoProfile(command=self.command(), pseudo_dir=self.pseudo_dir()),
            directory=directory,
            pseudopotentials={e: self.config.pseudopotentials[e] for e in elements},
            input_data=self.input_data(),
            kpts=self.config.kpts,
        )

    @contextmanager
    def calculator(self, frame: Atoms) -> Iterator:
        from ase.calculators.espresso import Espresso

        with scratch_dir(self.config.workdir, self.config.keep_files, "espresso-") as work:
            calc = Espresso(**self.calculator_kwargs(frame, str(work)))
            yield calc
            out = work / "espresso.pwo"
            if out.is_file() and "convergence NOT achieved" in out.read_text(errors="replace"):
                raise OracleFailure("scf_not_converged: pw.x reports 'convergence NOT achieved'")

    def classify(self, exc: BaseException) -> str:
        reason = super().classify(exc)
        out_text = str(exc)
        if "convergence NOT achieved" in out_text:
            return "scf_not_converged: pw.x reports 'convergence NOT achieved'"
        return reason


class GPAWOracle(CalculatorOracle):
    def __init__(self, config: GPAWConfig | None = None):
        self.config = config or GPAWConfig()
        self.name = f"gpaw/{self.config.xc}"

    def preflight(self) -> None:
        try:
            import gpaw  # noqa: F401
        except ImportError:
            raise OracleFailure("not_installed: gpaw is not installed (pip install gpaw; gpaw install-data)") from None

    def calculator_kwargs(self, directory: str) -> dict:
        from gpaw import PW, FermiDirac

        c = self.config
        kwargs = dict(
            mode=PW(c.ecut),
            xc=c.xc,
            kpts=c.kpts,
            occupations=FermiDirac(c.smearing_width),
            maxiter=c.maxiter,
            txt=str(Path(directory) / "gpaw.txt"),
        )
        kwargs.update(c.extra)
        return kwargs

    @contextmanager
    def calculator(self, frame: Atoms) -> Iterator:
        from gpaw import GPAW

        with scratch_dir(self.config.workdir, self.config.keep_files, "gpaw-") as work:
            yield GPAW(**self.calculator_kwargs(str(work)))
