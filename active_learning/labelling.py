"""Label many frames with an oracle: parallel, killable at a timeout, resumable after any stop.

``label_frames(frames, oracle_config, out_path)`` runs the oracle in worker processes
(``active_learning.oracles.pool``), stores every finished call at once in a resume store
(SQLite, WAL) beside the output, and at the end writes the labelled frames in input order
(failures left out) to ``out_path`` (extxyz, ``.gz`` allowed) atomically, with a JSON failures
report beside it. Stopping it any way (Ctrl-C, SIGTERM, SIGKILL, a crash) loses at most the
calls in flight: rerunning the same command relabels nothing already stored.

The store is keyed by the frame's content (numbers, positions, cell, pbc and initial
charges/magnetic moments, rounded to 1e-5) and the oracle's fingerprint (every setting that
can change a number), so it is safe to change the input list, the worker count or the timeout
between runs; a different method or cutoff simply gets its own rows. Each row counts
``attempts`` (oracle calls started, killed ones included) and ``failures`` (calls that ended
without a label); a frame that timed out or crashed is retried while ``failures <= retries``
(a missing cell, a missing program or an unconverged SCF would fail the same way again, so they
are not retried; ``retry_failed=True`` tries every failed frame once more, e.g. after a fix).

Output files for ``out_path = data/labelled.extxyz.gz``::

    data/labelled.extxyz.gz           labelled frames (energy, forces, stress, config_type, oracle)
    data/labelled.failures.json       every frame without a label: index, reason, attempts
    data/labelled.label-store.sqlite  the resume store (keep it to resume; delete to start over)
"""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from ase import Atoms
from pydantic import BaseModel

from active_learning.oracles.base import LabelResult, attach_labels, is_retryable
from active_learning.oracles.config import TBLiteConfig, fingerprint
from active_learning.oracles.pool import OraclePool
from mlip.utils import atomic_path, write_text_atomic

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


def oracle_identity(oracle: Any) -> tuple[str, str]:
    """(fingerprint, description) of an oracle config or of an Oracle object."""
    if oracle is None:
        oracle = TBLiteConfig()
    if isinstance(oracle, BaseModel):
        return fingerprint(oracle), oracle.model_dump_json()
    fp = getattr(oracle, "fingerprint", None) or getattr(oracle, "name", type(oracle).__name__)
    return str(fp), json.dumps({"object": type(oracle).__qualname__, "name": getattr(oracle, "name", None)})


def sidecar_paths(out_path: Path) -> tuple[Path, Path]:
    """(failures report, resume store) beside ``out_path``."""
    name = out_path.name
    for suffix in (".gz", ".bz2", ".xz"):
        name = name.removesuffix(suffix)
    for suffix in (".extxyz", ".xyz"):
        name = name.removesuffix(suffix)
    return out_path.with_name(f"{name}.failures.json"), out_path.with_name(f"{name}.label-store.sqlite")


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


def labelled_frame(frame: Atoms, row: sqlite3.Row, default_config_type: str) -> Atoms:
    n = len(frame)
    out = attach_labels(
        frame,
        row["energy"],
        np.frombuffer(row["forces"], dtype="<f8").reshape(n, 3),
        np.frombuffer(row["stress"], dtype="<f8"),
        row["oracle_name"],
    )
    out.pbc = [c == "T" for c in row["pbc"]]
    out.info.setdefault("config_type", default_config_type)
    return out


@dataclass
class LabelSummary:
    total: int  # input frames
    unique: int  # distinct frames (identical frames are labelled once)
    done: int  # labelled by this run
    cached: int  # labelled by an earlier run, taken from the store
    failed: int  # distinct frames without a label at the end
    written: int  # frames written to out_path
    oracle_calls: int  # calls started by this run (killed ones included)
    seconds: float  # wall time of this run
    oracle_seconds: float  # summed oracle time of this run's calls
    out_path: Path
    failures_path: Path
    store_path: Path

    def as_dict(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's kill) stops labelling as Ctrl-C does: workers killed, store intact."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress(enabled: bool, total: int):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]labelling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("{task.fields[cached]} cached"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )


def label_frames(
    frames: Sequence[Atoms],
    oracle_config: Any = None,
    out_path: str | Path = "labelled.extxyz",
    workers: int = 2,
    timeout: float = 600.0,
    retries: int = 1,
    progress: bool = True,
    *,
    store_path: str | Path | None = None,
    retry_failed: bool = False,
    default_config_type: str = "default",
    threads_per_worker: int = 1,
) -> LabelSummary:
    """Label ``frames`` with the oracle of ``oracle_config`` (None: GFN1-xTB) into ``out_path``.

    ``oracle_config`` is an oracle config model (``active_learning.oracles``) or a picklable
    object with ``name`` and ``label(atoms) -> LabelResult``. ``timeout`` (s) bounds each call;
    a frame is tried up to ``1 + retries`` times in all (``retry_failed`` gives frames that
    exhausted that in earlier runs a fresh budget). Returns the counts; never relabels a frame
    already in the store for this oracle.
    """
    t0 = time.perf_counter()
    out_path = Path(out_path)
    failures_path, default_store = sidecar_paths(out_path)
    store_path = Path(store_path) if store_path else default_store
    frames = list(frames)
    keys = [frame_key(a) for a in frames]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)

    oracle_fp, description = oracle_identity(oracle_config)
    store = LabelStore(store_path)
    try:
        store.register_oracle(oracle_fp, description)
        if retry_failed:
            store.reset_failures(oracle_fp)
        rows = store.rows(oracle_fp)
        pending, cached, final_failed = [], 0, 0
        for key in first:
            row = rows.get(key)
            if row is None or row["status"] == "running":
                pending.append(key)
            elif row["status"] == "done":
                cached += 1
            elif retry_failed or (row["failures"] <= retries and is_retryable(row["reason"])):
                pending.append(key)
            else:
                final_failed += 1

        done = calls = 0
        oracle_seconds = 0.0
        if pending:
            with _sigterm_as_interrupt(), _progress(progress, len(first)) as bar:
                task = bar.add_task("label", total=len(first), failed=final_failed, cached=cached)
                bar.advance(task, cached + final_failed)
                queue = list(reversed(pending))
                with OraclePool(oracle_config, min(workers, len(pending)), timeout, threads_per_worker) as pool:
                    while queue or pool.busy():
                        while queue and pool.idle():
                            key = queue.pop()
                            frame = frames[first[key]]
                            store.start(key, oracle_fp, frame.get_chemical_formula())
                            pool.submit(key, frame)
                            calls += 1
                        for key, result in pool.wait(0.5):
                            row = store.finish(key, oracle_fp, result)
                            oracle_seconds += result.seconds
                            if result.ok:
                                done += 1
                            elif row["failures"] <= retries and result.retryable:
                                queue.insert(0, key)  # retried after the frames not yet tried
                                continue
                            else:
                                final_failed += 1
                            bar.update(task, advance=1, failed=final_failed)

        rows = store.rows(oracle_fp)
    finally:
        store.close()

    labelled, failures = [], []
    for i, (frame, key) in enumerate(zip(frames, keys)):
        row = rows.get(key)
        if row is not None and row["status"] == "done":
            labelled.append(labelled_frame(frame, row, default_config_type))
        else:
            failures.append(
                {
                    "index": i,
                    "key": key,
                    "formula": frame.get_chemical_formula(),
                    "natoms": len(frame),
                    "config_type": frame.info.get("config_type"),
                    "source": frame.info.get("_source"),
                    "reason": row["reason"] if row is not None else "not labelled",
                    "attempts": row["attempts"] if row is not None else 0,
                    "failures": row["failures"] if row is not None else 0,
                }
            )
    _write_extxyz(out_path, labelled)
    report = {"oracle": oracle_fp, "oracle_config": json.loads(description), "failed": len(failures), "frames": failures}
    write_text_atomic(failures_path, json.dumps(report, indent=1) + "\n")
    return LabelSummary(
        total=len(frames),
        unique=len(first),
        done=done,
        cached=cached,
        failed=final_failed,
        written=len(labelled),
        oracle_calls=calls,
        seconds=time.perf_counter() - t0,
        oracle_seconds=oracle_seconds,
        out_path=out_path,
        failures_path=failures_path,
        store_path=store_path,
    )


def _write_extxyz(path: Path, frames: list[Atoms]) -> None:
    """Atomic extxyz (gzipped for .gz); internal keys such as ``_source`` are left out."""
    from mlip.data.readers import write_frames

    if frames:
        write_frames(path, frames)
        return
    from ase.io.formats import open_with_compression

    with atomic_path(path) as tmp:
        with open_with_compression(str(tmp), "w"):
            pass
