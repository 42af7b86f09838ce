"""CP2K (PBE, GTH pseudopotentials, DZVP-MOLOPT-SR-GTH, Fermi-Dirac smearing) through ASE.

Each call starts its own CP2K shell in a fresh scratch directory and closes it afterwards, so
a killed call leaves nothing behind that the next one could inherit. CP2K 2023.1 (Debian) only
*warns* when the SCF does not converge and still hands back numbers; the oracle reads the
output file and turns that warning into ``scf_not_converged`` instead of a label.
"""

from __future__ import annotations

import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ase import Atoms
from ase.units import Rydberg

from active_learning.oracles.base import CalculatorOracle, OracleFailure, find_executable, scratch_dir
from active_learning.oracles.config import CP2KConfig

CANDIDATE_COMMANDS = ("cp2k_shell", "cp2k.psmp -s", "cp2k.ssmp -s", "cp2k -s")


def discover_command(config: CP2KConfig) -> str | None:
    """The CP2K shell command: the config's, ``$ASE_CP2K_COMMAND``, or the first installed one."""
    if config.command:
        return config.command
    if os.environ.get("ASE_CP2K_COMMAND"):
        return os.environ["ASE_CP2K_COMMAND"]
    for candidate in CANDIDATE_COMMANDS:
        if shutil.which(candidate.split()[0]):
            return candidate
    return None


def scf_template(config: CP2KConfig, natoms: int) -> str:
    if config.input_template is not None:
        return config.input_template
    added_mos = config.added_mos or max(10, natoms)
    return f"""&FORCE_EVAL
  &DFT
    &MGRID
      REL_CUTOFF [Ry] {config.rel_cutoff_ry}
    &END MGRID
    &SCF
      EPS_SCF {config.eps_scf:.3e}
      ADDED_MOS {added_mos}
      &SMEAR ON
        METHOD FERMI_DIRAC
        ELECTRONIC_TEMPERATURE [K] {config.smearing_temperature_k}
      &END SMEAR
      &MIXING
        METHOD BROYDEN_MIXING
        ALPHA {config.mixing_alpha}
      &END MIXING
    &END SCF
  &END DFT
&END FORCE_EVAL
"""


def check_output(path: Path) -> None:
    """Raise ``OracleFailure`` unless CP2K's output says the SCF converged (and never that it did not)."""
    if not path.is_file():
        raise OracleFailure(f"crash: CP2K wrote no output file {path.name}")
    text = path.read_text(errors="replace")
    if "SCF run NOT converged" in text:
        raise OracleFailure("scf_not_converged: CP2K reports 'SCF run NOT converged'")
    if "SCF run converged" not in text:
        raise OracleFailure("scf_not_converged: CP2K output has no 'SCF run converged' line")


def abort_message(path: Path) -> str | None:
    """The text of CP2K's ``[ABORT]`` box in its output, as one line (None when there is none)."""
    if not path.is_file():
        return None
    lines = path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if "[ABORT]" in line:
            words = []
            for box in lines[i + 1 : i + 8]:
                if box.strip().startswith("*****"):
                    break
                text = box.strip().strip("*")
                for art in ("\\___/", "O/", "\\|", "/ \\", "|"):
                    text = text.replace(art, " ")
                words.extend(text.split())
            return " ".join(words) or "see the CP2K output"
    return None


class CP2KOracle(CalculatorOracle):
    def __init__(self, config: CP2KConfig | None = None):
        self.config = config or CP2KConfig()
        self.name = f"cp2k/{self.config.xc}"

    def preflight(self) -> None:
        command = discover_command(self.config)
        if command is None:
            raise OracleFailure(
                "executable_not_found: cp2k executable not found (tried "
                + ", ".join(c.split()[0] for c in CANDIDATE_COMMANDS)
                + "; set `command:` or $ASE_CP2K_COMMAND)"
            )
        if find_executable(command, hint="cp2k") is None:
            raise OracleFailure(f"executable_not_found: cp2k executable not found: {command!r}")

    def calculator_kwargs(self, frame: Atoms, label: str) -> dict:
        c = self.config

        def data_file(name: str) -> str:
            return str(Path(c.data_dir) / name) if c.data_dir else name

        return dict(
            command=discover_command(c),
            label=label,
            xc=c.xc,
            basis_set=c.basis_set,
            basis_set_file=data_file(c.basis_set_file),
            pseudo_potential=c.pseudo_potential,
            potential_file=data_file(c.potential_file),
            cutoff=c.cutoff_ry * Rydberg,
            max_scf=c.max_scf,
            charge=int(round(float(frame.get_initial_charges().sum()))),
            uks=c.uks,
            stress_tensor=True,
            inp=scf_template(c, len(frame)),
            print_level="LOW",
        )

    @contextmanager
    def calculator(self, frame: Atoms) -> Iterator:
        from ase.calculators.cp2k import CP2K

        with scratch_dir(self.config.workdir, self.config.keep_files, "cp2k-") as work:
            label = str(work / "cp2k")
            calc = CP2K(**self.calculator_kwargs(frame, label))
            try:
                yield calc
            except Exception as exc:
                abort = abort_message(Path(label + ".out"))
                if abort:
                    raise OracleFailure(f"crash: CP2K aborted: {abort}") from exc
                raise
            finally:
                try:
                    with warnings.catch_warnings():  # "shell not ready" after an abort: expected
                        warnings.simplefilter("ignore", RuntimeWarning)
                        calc.close()
                except Exception:  # noqa: BLE001 - a dead shell must not hide the real error
                    pass
            check_output(Path(label + ".out"))

    def classify(self, exc: BaseException) -> str:
        reason = super().classify(exc)
        if isinstance(exc, AssertionError) and not str(exc):
            return "crash: the CP2K shell stopped unexpectedly (see its output with keep_files: true)"
        return reason

