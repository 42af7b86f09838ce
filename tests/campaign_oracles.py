"""Test-only oracles for the labelling and campaign tests (importable by the oracle pool's worker
processes and by the subprocesses the tests start)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ase import Atoms

from active_learning.oracles.base import LabelResult
from active_learning.reference_data.label_store import frame_key


class HashFlakyOracle:
    """GFN1-xTB, except for frames whose content hash mod ``modulus`` is in ``hang`` (sleeps for
    an hour: the pool's timeout must kill it) or in ``fail`` (raises)."""

    def __init__(self, modulus: int = 4, hang: tuple[int, ...] = (0,), fail: tuple[int, ...] = (1,)):
        self.name = "hash-flaky-gfn1"
        self.modulus, self.hang, self.fail = modulus, tuple(hang), tuple(fail)

    def bucket(self, atoms: Atoms) -> int:
        return int(frame_key(atoms), 16) % self.modulus

    def label(self, atoms: Atoms) -> LabelResult:
        from active_learning.oracles.tblite import TBLiteOracle

        bucket = self.bucket(atoms)
        if bucket in self.hang:
            time.sleep(3600)
        if bucket in self.fail:
            raise RuntimeError(f"flaky oracle refuses bucket {bucket}")
        return TBLiteOracle().label(atoms)


class ScriptedOracle:
    """A test-only oracle: GFN1-xTB after ``delay`` seconds, unless the frame asks to misbehave.

    ``info["mode"]``: "hang" sleeps for an hour, "die" kills its own process, "raise" raises.
    With ``pid_dir`` each call leaves a file named after its process id.
    """

    def __init__(self, delay: float = 0.0, pid_dir: str | None = None, fingerprint: str = "scripted"):
        self.name = "scripted"
        self.delay = delay
        self.pid_dir = pid_dir
        self.fingerprint = fingerprint

    def label(self, atoms: Atoms) -> LabelResult:
        from active_learning.oracles.tblite import TBLiteOracle

        if self.pid_dir:
            Path(self.pid_dir, str(os.getpid())).touch()
        mode = atoms.info.get("mode")
        if mode == "hang":
            time.sleep(3600)
        if mode == "die":
            os._exit(3)
        if mode == "raise":
            raise RuntimeError("boom")
        time.sleep(self.delay)
        return TBLiteOracle().label(atoms)
