"""The resume store of labelling runs: one SQLite row per (frame, oracle), every change one
transaction, WAL journal so readers never block the writer.

A frame is keyed by its content (``frame_key``: numbers, positions, cell, pbc and initial
charges/magnetic moments, rounded to 1e-5 so that an extxyz round trip gives the same key), the
oracle by its fingerprint (``active_learning.oracles.config.fingerprint``). A row holds the
status (running, done, failed), ``attempts`` (calls started, killed ones included),
``failures``, the last failure's ``reason``, the oracle seconds spent, and the labels.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from ase import Atoms

from active_learning.oracles.base import LabelResult

ROUND = 5  # decimals (Å) of positions and cell in the frame key


def frame_key(atoms: Atoms) -> str:
    """Content hash of a frame: what an oracle sees, rounded so that an extxyz round trip agrees."""
    h = hashlib.sha256()

    def add(name: str, array: np.ndarray) -> None:
        h.update(name.encode())
        h.update(np.ascontiguousarray(array).tobytes())

    add("numbers", np.asarray(atoms.numbers, dtype=np.int64))
    add("positions", np.round(np.asarray(atoms.positions, dtype=float), ROUND) + 0.0)
    add("cell", np.round(np.asarray(atoms.cell, dtype=float), ROUND) + 0.0)
    add("pbc", np.asarray(atoms.pbc, dtype=bool))
    for name in ("initial_charges", "initial_magmoms"):
        if name in atoms.arrays and np.any(atoms.arrays[name]):
            add(name, np.round(np.asarray(atoms.arrays[name], dtype=float), ROUND) + 0.0)
    return h.hexdigest()[:32]


class LabelStore:
    """The resume store: one row per (frame key, oracle fingerprint); every change one transaction."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS labels (
        key TEXT NOT NULL,
        oracle TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        reason TEXT,
        seconds REAL NOT NULL DEFAULT 0,
        formula TEXT,
        oracle_name TEXT,
        energy REAL,
        forces BLOB,
        stress BLOB,
        pbc TEXT,
        updated REAL,
        PRIMARY KEY (key, oracle)
    );
    CREATE TABLE IF NOT EXISTS oracles (oracle TEXT PRIMARY KEY, description TEXT NOT NULL);
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(self.SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def register_oracle(self, oracle: str, description: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO oracles VALUES (?, ?)", (oracle, description))

    def rows(self, oracle: str) -> dict[str, sqlite3.Row]:
        return {r["key"]: r for r in self.db.execute("SELECT * FROM labels WHERE oracle = ?", (oracle,))}

    def start(self, key: str, oracle: str, formula: str) -> None:
        with self.transaction() as db:
            db.execute(
                """INSERT INTO labels (key, oracle, status, attempts, formula, updated)
                   VALUES (?, ?, 'running', 1, ?, ?)
                   ON CONFLICT (key, oracle) DO UPDATE SET
                   status = 'running', attempts = attempts + 1, updated = excluded.updated""",
                (key, oracle, formula, time.time()),
            )

    def finish(self, key: str, oracle: str, result: LabelResult) -> sqlite3.Row:
        with self.transaction() as db:
            if result.ok:
                a = result.atoms
                db.execute(
                    """UPDATE labels SET status = 'done', reason = NULL, seconds = seconds + ?,
                       oracle_name = ?, energy = ?, forces = ?, stress = ?, pbc = ?, updated = ?
                       WHERE key = ? AND oracle = ?""",
                    (
                        result.seconds,
                        str(a.info.get("oracle", "")),
                        float(a.info["energy"]),
                        np.asarray(a.arrays["forces"], dtype="<f8").tobytes(),
                        np.asarray(a.info["stress"], dtype="<f8").reshape(6).tobytes(),
                        "".join("T" if p else "F" for p in a.pbc),
                        time.time(),
                        key,
                        oracle,
                    ),
                )
            else:
                db.execute(
                    """UPDATE labels SET status = 'failed', failures = failures + 1, reason = ?,
                       seconds = seconds + ?, updated = ? WHERE key = ? AND oracle = ?""",
                    (result.reason or "crash: no reason given", result.seconds, time.time(), key, oracle),
                )
            return db.execute("SELECT * FROM labels WHERE key = ? AND oracle = ?", (key, oracle)).fetchone()

    def reset_failures(self, oracle: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE labels SET failures = 0 WHERE oracle = ? AND status = 'failed'", (oracle,))

    def close(self) -> None:
        self.db.close()
