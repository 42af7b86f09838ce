"""The oracle protocol: label one frame, or say in one line why not.

An oracle never raises. Whatever goes wrong inside (SCF not converged, a missing executable, a
crash of the electronic-structure code, non-finite numbers) comes back as a ``LabelResult`` with
``ok=False`` and a ``reason`` that starts with a short tag:

- ``scf_not_converged: ...``  the SCF did not reach its threshold (never a label)
- ``non_finite: ...``         energy, forces or stress contain NaN/inf
- ``periodic frame without a cell``
- ``executable_not_found: ...`` / ``not_installed: ...`` / ``setup: ...``
- ``timeout after N s``       set by the labelling pool, which kills the call
- ``crash: <exception line>`` anything else

A labelled frame is a copy of the input (every ``info``/``arrays`` key kept) with
``info["energy"]`` (force-consistent free energy, eV), ``arrays["forces"]`` (eV/Å),
``info["stress"]`` (Voigt 6, eV/Å^3, ASE sign: positive = tensile) and ``info["oracle"]``.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol, runtime_checkable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError

from active_learning.oracles.cell_rules import fold_tiling

LABEL_KEYS = ("energy", "stress", "free_energy")


RETRYABLE = ("timeout", "crash")


@dataclass
class LabelResult:
    ok: bool
    atoms: Atoms | None = None
    reason: str | None = None
    seconds: float = 0.0

    @property
    def retryable(self) -> bool:
        return is_retryable(self.reason)


def is_retryable(reason: str | None) -> bool:
    """Timeouts and crashes may pass on a second try; a missing cell, a missing program or an
    unconverged SCF with the same settings will not, so those are not retried."""
    return not reason or reason.startswith(RETRYABLE)


@runtime_checkable
class Oracle(Protocol):
    name: str

    def label(self, atoms: Atoms) -> LabelResult:  # pragma: no cover - protocol
        """Label one frame. Never raises: failures come back with ``ok=False`` and a reason."""


class OracleFailure(Exception):
    """Raised inside an oracle to end a call with a recorded failure (caught by ``label``)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def ensure_periodic(atoms: Atoms) -> Atoms:
    """A fully periodic copy of ``atoms`` (pbc=True on its own cell), without a calculator.

    Reference labels are always computed fully periodic (DESIGN.md); a frame without a proper
    3D cell cannot be, and is a recorded failure rather than a silently non-periodic label.
    """
    cell = np.asarray(atoms.cell)
    if atoms.cell.rank < 3 or not np.isfinite(cell).all() or abs(np.linalg.det(cell)) < 1e-6:
        raise OracleFailure("periodic frame without a cell")
    if len(atoms) == 0:
        raise OracleFailure("empty frame (no atoms)")
    if not np.isfinite(atoms.positions).all():
        raise OracleFailure("non_finite: positions contain NaN/inf")
    frame = atoms.copy()
    frame.calc = None
    frame.pbc = True
    return frame


def find_executable(command: str, hint: str | None = None) -> str | None:
    """The path of the program in a shell command line, or None when it is not installed.

    With ``hint`` (e.g. ``"cp2k"``) the first word containing it is checked, so that
    ``mpiexec -np 4 cp2k.psmp -s`` checks cp2k and not mpiexec; otherwise the first word that
    is not ``env`` or a ``VAR=value`` assignment.
    """
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    programs = [w for w in words if w != "env" and "=" not in w.split("/")[0] and not w.startswith("-")]
    if hint:
        hinted = [w for w in programs if hint in Path(w).name]
        programs = hinted or programs
    return shutil.which(programs[0]) if programs else None


@contextmanager
def scratch_dir(parent: str | None, keep: bool, prefix: str) -> Iterator[Path]:
    """A fresh directory for one oracle call; removed afterwards unless ``keep``."""
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def attach_labels(atoms: Atoms, energy: float, forces: np.ndarray, stress: np.ndarray, oracle: str) -> Atoms:
    """Copy of ``atoms`` carrying the labels in the extxyz convention (info/arrays, no calc)."""
    out = atoms.copy()
    out.calc = None
    out.info["energy"] = float(energy)
    out.info["stress"] = np.asarray(stress, dtype=float).reshape(6).copy()
    out.info["oracle"] = oracle
    if "forces" in out.arrays:
        del out.arrays["forces"]
    out.new_array("forces", np.asarray(forces, dtype=float).reshape(len(out), 3).copy())
    return out


def check_finite(energy, forces, stress) -> None:
    bad = [n for n, v in (("energy", energy), ("forces", forces), ("stress", stress)) if not np.isfinite(v).all()]
    if bad:
        raise OracleFailure(f"non_finite: {', '.join(bad)} contain NaN/inf")


class CalculatorOracle:
    """An oracle on top of an ASE calculator: subclasses say how to build and check it.

    ``label`` does the common part: a fully periodic copy, energy/forces/stress, the convergence
    check, finiteness, and turning every exception into a recorded failure.
    """

    name: str = "calculator"

    def preflight(self) -> None:
        """Raise ``OracleFailure`` when the oracle cannot run at all (e.g. missing executable)."""

    @contextmanager
    def calculator(self, frame: Atoms) -> Iterator[Calculator]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    def check_converged(self, calc: Calculator) -> None:
        """Raise ``OracleFailure('scf_not_converged: ...')`` when the SCF did not converge."""

    def classify(self, exc: BaseException) -> str:
        """The reason recorded for an exception raised by the calculator."""
        text = str(exc)
        if "not converged" in text.lower() or "convergence" in type(exc).__name__.lower():
            return f"scf_not_converged: {text.strip().splitlines()[0] if text.strip() else type(exc).__name__}"
        return f"crash: {first_line(exc)}"

    def label(self, atoms: Atoms) -> LabelResult:
        start = time.perf_counter()
        try:
            frame = ensure_periodic(atoms)
            tiling = fold_tiling(atoms)  # a `fold` cell rule: label the tiling, keep the frame
            self.preflight()
            with self.calculator(frame.repeat(tiling) if tiling else frame) as calc:
                if tiling:
                    from md_runs.validation.reference import TiledCalculator

                    frame.calc = TiledCalculator(calc, tiling)
                else:
                    frame.calc = calc
                try:
                    energy = frame.get_potential_energy(force_consistent=True)
                except PropertyNotImplementedError:
                    energy = frame.get_potential_energy()
                forces = frame.get_forces()
                stress = frame.get_stress(voigt=True)
            self.check_converged(calc)  # after the context closed it: outputs are flushed
            check_finite(energy, forces, stress)
            labelled = attach_labels(atoms, energy, forces, stress, self.name)
            labelled.pbc = True
            return LabelResult(True, labelled, None, time.perf_counter() - start)
        except OracleFailure as exc:
            return LabelResult(False, None, exc.reason, time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - an oracle never raises
            return LabelResult(False, None, self.classify(exc), time.perf_counter() - start)
