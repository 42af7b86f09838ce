"""Test-only oracles for the campaign tests (importable by the oracle pool's worker processes)."""

from __future__ import annotations

import time

from ase import Atoms

from active_learning.oracles.base import LabelResult
from active_learning.oracles.label_store import frame_key


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
