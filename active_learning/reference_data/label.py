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
from pydantic import BaseModel, Field, model_validator

from active_learning.oracles.base import attach_labels, is_retryable
from active_learning.oracles.cell_rules import CellRules, check_oracle, load_cell_rules, oracle_settings, prepare_frame
from active_learning.oracles.config import OracleConfig, TBLiteConfig, fingerprint, parse_oracle_config
from active_learning.oracles.pool import OraclePool
from active_learning.reference_data.label_store import LabelStore, frame_key
from mlip.config import StrictModel
from mlip.data.species import DEFAULT_SPECIES
from mlip.data.validate import frame_problems
from mlip.errors import UserError
from mlip.utils import atomic_path, write_text_atomic
from mlip.utils.console import progress_bar

__all__ = ["LabelSummary", "LabelStore", "frame_key", "label_frames", "sidecar_paths"]


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
    cell_rules: CellRules | None = None,
    species: Sequence[str] | None = DEFAULT_SPECIES,
) -> LabelSummary:
    """Label ``frames`` with the oracle of ``oracle_config`` (None: GFN1-xTB) into ``out_path``.

    ``oracle_config`` is an oracle config model (``active_learning.oracles``) or a picklable
    object with ``name`` and ``label(atoms) -> LabelResult``. ``timeout`` (s) bounds each call;
    a frame is tried up to ``1 + retries`` times in all (``retry_failed`` gives frames that
    exhausted that in earlier runs a fresh budget). Returns the counts; never relabels a frame
    already in the store for this oracle.

    Before any oracle call, a frame that is unphysical (atoms closer than the data validator
    allows, NaN positions, an element outside ``species``) or below its family's converged size
    (``cell_rules``, see ``active_learning.oracles.cell_rules``) is refused with its reason; a
    periodic frame whose rule allows it is tiled up to that size first. Every label records the
    oracle's settings and the cell rule applied.
    """
    t0 = time.perf_counter()
    out_path = Path(out_path)
    failures_path, default_store = sidecar_paths(out_path)
    store_path = Path(store_path) if store_path else default_store
    if isinstance(oracle_config, dict):
        oracle_config = parse_oracle_config(oracle_config)
    if cell_rules is not None:
        check_oracle(cell_rules, oracle_config)
    settings = oracle_settings(oracle_config)
    frames, refused = _prepare(list(frames), cell_rules, settings, species)
    keys = [frame_key(a) for a in frames]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if i not in refused:
            first.setdefault(key, i)

    oracle_fp, description = oracle_identity(oracle_config)
    with _exclusive(store_path):
        rows, done, calls, oracle_seconds, cached, final_failed = _run(
            frames, first, oracle_config, oracle_fp, description, store_path,
            workers, timeout, retries, progress, retry_failed, threads_per_worker,
        )

    labelled, failures = [], []
    for i, (frame, key) in enumerate(zip(frames, keys)):
        row = None if i in refused else rows.get(key)
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
                    "reason": refused.get(i) or (row["reason"] if row is not None else "not labelled"),
                    "attempts": row["attempts"] if row is not None else 0,
                    "failures": row["failures"] if row is not None else 0,
                }
            )
    _write_extxyz(out_path, labelled)
    summary = LabelSummary(
        total=len(frames),
        unique=len(first),
        done=done,
        cached=cached,
        failed=final_failed + len(refused),
        written=len(labelled),
        oracle_calls=calls,
        seconds=time.perf_counter() - t0,
        oracle_seconds=oracle_seconds,
        out_path=out_path,
        failures_path=failures_path,
        store_path=store_path,
    )
    report = {
        "oracle": oracle_fp,
        "oracle_config": json.loads(description),
        "failed": len(failures),
        "summary": summary.as_dict(),
        "frames": failures,
    }
    write_text_atomic(failures_path, json.dumps(report, indent=1) + "\n")
    return summary


class LabelConfig(StrictModel):
    oracle: OracleConfig = Field(default_factory=TBLiteConfig)
    workers: int = Field(2, ge=1)
    timeout: float = Field(600.0, gt=0, description="seconds per oracle call")
    retries: int = Field(1, ge=0, description="extra tries for a call that timed out or crashed")
    threads_per_worker: int = Field(1, ge=1, description="OMP_NUM_THREADS of each worker")
    default_config_type: str = "default"
    cell_rules: Any | None = Field(
        None, description="converged cell sizes: a shipped name (e.g. gfn1-xtb-3000K) or a mapping; null: none")
    species: list[str] = Field(default_factory=lambda: list(DEFAULT_SPECIES),
                               description="elements a frame may hold; others are refused before the oracle")

    @model_validator(mode="before")
    @classmethod
    def _default_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("oracle"), dict):
            data = {**data, "oracle": {"kind": "tblite", **data["oracle"]}}
        return data


def label_with_config(frames: Sequence[Atoms], out_path: str | Path, cfg: LabelConfig, *,
                      cell_rules: CellRules | None = None, progress: bool = True,
                      retry_failed: bool = False) -> LabelSummary:
    """:func:`label_frames` with the settings of a :class:`LabelConfig` (``seimlip data label
    --config``); ``cell_rules``: ``cfg.cell_rules`` already loaded (loaded here when not given)."""
    rules = cell_rules if cell_rules is not None else load_cell_rules(cfg.cell_rules)
    return label_frames(frames, cfg.oracle, out_path, workers=cfg.workers, timeout=cfg.timeout, retries=cfg.retries,
                        progress=progress, retry_failed=retry_failed, default_config_type=cfg.default_config_type,
                        threads_per_worker=cfg.threads_per_worker, cell_rules=rules, species=cfg.species)


def _prepare(frames: list[Atoms], rules: CellRules | None, settings: dict, species: Sequence[str] | None
             ) -> tuple[list[Atoms], dict[int, str]]:
    """(frames ready for the oracle, {index: reason} of those refused before any call)."""
    out, refused = [], {}
    for i, atoms in enumerate(frames):
        problems = frame_problems(atoms, species=species, require_labels=False)
        if problems:
            refused[i] = f"unphysical: {problems[0]}"
            out.append(atoms)
            continue
        prepared = prepare_frame(atoms, rules, settings)
        if prepared.atoms is None:
            refused[i] = str(prepared.reason)
            out.append(atoms)
        else:
            out.append(prepared.atoms)
    return out, refused


def _exclusive(store_path: Path):
    """One labelling run per store at a time (a second one would label the same frames)."""
    from mlip.locks import exclusive

    return exclusive(store_path.with_name(store_path.name + ".lock"), wait=False, where=str(store_path),
                     busy="another labelling run is using this resume store; wait for it or stop it")


def _run(
    frames, first, oracle_config, oracle_fp, description, store_path,
    workers, timeout, retries, progress, retry_failed, threads_per_worker,
):  # fmt: skip
    """Label every pending distinct frame; returns the store's rows and this run's counts."""
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
            columns = ("[red]{task.fields[failed]} failed", "{task.fields[cached]} cached")
            with _sigterm_as_interrupt(), progress_bar(progress, *columns) as bar:
                task = bar.add_task("labelling", total=len(first), failed=final_failed, cached=cached)
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

        return store.rows(oracle_fp), done, calls, oracle_seconds, cached, final_failed
    finally:
        store.close()


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
