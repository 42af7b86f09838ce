"""The campaign store: the one source of truth of a campaign (SQLAlchemy Core).

SQLite with WAL by default (``CAMPAIGN/campaign.db``; every transaction takes the write lock at
its start, ``BEGIN IMMEDIATE``, so concurrent ``submit`` processes queue instead of failing);
PostgreSQL for a cluster by URL (``postgresql://user@host/db``, driver psycopg 3: ``pip install
'seimlip[postgres]'``). A malformed URL, a missing driver, a server that cannot be reached and a
corrupt or truncated database file are one-line errors naming the store. Tables:

- ``frames``: every structure seen (extxyz text, content hash ``frame_key`` — unique, so a frame
  is stored once — source, kind initial/explored/submitted, iteration, max force deviation,
  descriptor, status: initial, pending, accurate, candidate, discarded, unphysical, selected,
  skipped, duplicate);
- ``jobs``: one reference job per selected frame (unique frame: a frame is never labelled twice)
  with status queued/running/done/failed, attempts, failures, last reason and the labelled frame;
- ``attempts``: every finished oracle call of a job with its outcome and reason;
- ``models``: the committee of each iteration with its test metrics;
- ``iterations``: phase (explore, select, label, train, done) and statistics of each iteration.

Every state transition is one transaction.
"""

from __future__ import annotations

import io
import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import sqlalchemy as sa
from ase import Atoms

from active_learning.oracles.base import LabelResult
from active_learning.reference_data.label_store import frame_key
from mlip.errors import UserError, first_line

metadata = sa.MetaData()
meta_t = sa.Table("meta", metadata, sa.Column("key", sa.String(64), primary_key=True), sa.Column("value", sa.Text))
frames_t = sa.Table(
    "frames", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("iteration", sa.Integer, index=True),
    sa.Column("natoms", sa.Integer, nullable=False),
    sa.Column("formula", sa.String(128)),
    sa.Column("extxyz", sa.Text, nullable=False),
    sa.Column("max_force_dev", sa.Float),
    sa.Column("descriptor", sa.LargeBinary),
    sa.Column("descriptor_model", sa.Integer),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created", sa.Float, nullable=False),
)
jobs_t = sa.Table(
    "jobs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("frame_id", sa.Integer, sa.ForeignKey("frames.id"), nullable=False, unique=True),
    sa.Column("iteration", sa.Integer, nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("reason", sa.Text),
    sa.Column("seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("label", sa.Text),
    sa.Column("updated", sa.Float),
)
attempts_t = sa.Table(
    "attempts", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), nullable=False, index=True),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("seconds", sa.Float),
    sa.Column("finished", sa.Float, nullable=False),
)
models_t = sa.Table(
    "models", metadata,
    sa.Column("iteration", sa.Integer, primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text),
    sa.Column("created", sa.Float, nullable=False),
)
iterations_t = sa.Table(
    "iterations", metadata,
    sa.Column("iteration", sa.Integer, primary_key=True),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("stats", sa.Text, nullable=False, default="{}"),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("finished", sa.Float),
)


def atoms_to_text(atoms: Atoms) -> str:
    import ase.io

    copy = atoms.copy()
    copy.calc = None
    copy.info.pop("_source", None)
    buf = io.StringIO()
    ase.io.write(buf, copy, format="extxyz")
    return buf.getvalue()


def text_to_atoms(text: str) -> Atoms:
    import ase.io

    from mlip.data.readers import normalise_labels

    return normalise_labels(ase.io.read(io.StringIO(text), format="extxyz"))


def _insert(engine: sa.Engine, table: sa.Table):
    """INSERT ... ON CONFLICT DO NOTHING for SQLite and PostgreSQL."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def parse_store_url(url: str, where: str | None = None) -> sa.engine.URL:
    """The SQLAlchemy URL of a campaign store: SQLite or PostgreSQL (psycopg 3 unless the URL names
    another driver), its driver importable; one ``UserError`` otherwise. Connects to nothing."""
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        raise UserError(f"{url!r} is not a database URL (e.g. postgresql://user@host:5432/campaigns)",
                        where) from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise UserError(f"{backend} databases are not supported (SQLite or PostgreSQL)", where)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError as exc:
        extra = " (pip install 'seimlip[postgres]')" if backend == "postgresql" else ""
        raise UserError(f"{parsed.render_as_string(hide_password=True)} needs the Python module "
                        f"{exc.name or parsed.get_driver_name()}, which is not installed{extra}", where) from None
    except sa.exc.NoSuchModuleError:
        raise UserError(f"unknown database driver {parsed.drivername!r}", where) from None
    return parsed


class CampaignStore:
    """Frames, reference jobs, models and iterations of one campaign (see the module doc).

    ``create`` makes the tables (``al init``); without it the store must already hold a campaign.
    ``where`` names the store in error messages (default: its database file or URL)."""

    def __init__(self, url: str, create: bool = True, where: str | None = None):
        parsed = parse_store_url(url, where)
        self.url = url
        self.where = where or (parsed.database if parsed.get_backend_name() == "sqlite"
                               else parsed.render_as_string(hide_password=True))
        if parsed.get_backend_name() == "sqlite":
            db = Path(parsed.database or "")
            if not create and not db.is_file():
                raise UserError("campaign store not found (the campaign folder is incomplete)", self.where)
            if not create and db.stat().st_size == 0:
                raise UserError("campaign store is an empty file (0 bytes): it holds no campaign", self.where)
            self.engine = sa.create_engine(parsed, connect_args={"timeout": 120}, poolclass=sa.pool.NullPool)

            @sa.event.listens_for(self.engine, "connect")
            def _connect(dbapi_conn, _record):
                dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
                dbapi_conn.execute("PRAGMA journal_mode=WAL")
                dbapi_conn.execute("PRAGMA synchronous=NORMAL")
                dbapi_conn.execute("PRAGMA foreign_keys=ON")

            @sa.event.listens_for(self.engine, "begin")
            def _begin(conn):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            self.engine = sa.create_engine(parsed, pool_pre_ping=True)
        with self.tx() as c:
            if create:
                metadata.create_all(c)
            elif not sa.inspect(c).has_table(iterations_t.name):
                raise UserError("holds no campaign (empty, or not the database `seimlip al init` made)", self.where)

    @contextmanager
    def tx(self) -> Iterator[sa.Connection]:
        """One transaction: committed at the end of the block, rolled back on an exception. A
        database that cannot be opened, read or reached is one ``UserError`` naming the store."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.DataError):
            raise  # our bug, not the user's database
        except sa.exc.DatabaseError as exc:
            reason = first_line(exc.orig if exc.orig is not None else exc)
            if self.engine.dialect.name == "sqlite" and not isinstance(exc, sa.exc.OperationalError):
                reason += ": the file is corrupt or truncated, or not a campaign database"
            raise UserError(f"campaign store: {reason}", self.where) from None

    def close(self) -> None:
        self.engine.dispose()

    # -- meta -----------------------------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        with self.tx() as c:
            c.execute(_insert(self.engine, meta_t).values(key=key, value=json.dumps(value)))
            c.execute(meta_t.update().where(meta_t.c.key == key).values(value=json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self.tx() as c:
            row = c.execute(sa.select(meta_t.c.value).where(meta_t.c.key == key)).first()
        return json.loads(row[0]) if row else default

    # -- frames ---------------------------------------------------------------------------------
    def add_frames(self, frames: Sequence[Atoms], source: str, kind: str, status: str | Sequence[str],
                   iteration: int | None = None, max_force_dev: Sequence[float] | None = None,
                   descriptors: np.ndarray | None = None, descriptor_model: int | None = None,
                   conn: sa.Connection | None = None) -> tuple[int, int]:
        """Store ``frames`` (one status, or one per frame) in one transaction (``conn``'s, when
        given); returns (added, duplicates by content hash)."""
        statuses = [status] * len(frames) if isinstance(status, str) else list(status)
        now = time.time()
        rows, seen = [], set()
        for k, atoms in enumerate(frames):
            h = frame_key(atoms)
            if h in seen:
                continue
            seen.add(h)
            rows.append({
                "hash": h, "source": str(atoms.info.get("_campaign_source", source)), "kind": kind,
                "iteration": iteration, "natoms": len(atoms), "formula": atoms.get_chemical_formula(),
                "extxyz": atoms_to_text(atoms), "status": statuses[k], "created": now,
                "max_force_dev": None if max_force_dev is None else float(max_force_dev[k]),
                "descriptor": None if descriptors is None else np.asarray(descriptors[k], "<f8").tobytes(),
                "descriptor_model": descriptor_model if descriptors is not None else None,
            })
        if not rows:
            return 0, len(frames)
        def run(c):
            before = c.execute(sa.select(sa.func.count()).select_from(frames_t)).scalar_one()
            c.execute(_insert(self.engine, frames_t), rows)
            return c.execute(sa.select(sa.func.count()).select_from(frames_t)).scalar_one() - before

        if conn is not None:
            added = run(conn)
        else:
            with self.tx() as c:
                added = run(c)
        return added, len(frames) - added

    def frames(self, *where, columns: Sequence[str] | None = None) -> list[sa.Row]:
        cols = [frames_t.c[n] for n in columns] if columns else [frames_t]
        with self.tx() as c:
            return list(c.execute(sa.select(*cols).where(*where).order_by(frames_t.c.id)))

    def descriptors(self, model_iteration: int) -> tuple[list[int], np.ndarray]:
        rows = self.frames(frames_t.c.descriptor_model == model_iteration, columns=["id", "descriptor"])
        if not rows:
            return [], np.zeros((0, 0))
        return [r.id for r in rows], np.stack([np.frombuffer(r.descriptor, "<f8") for r in rows])

    def update_frames(self, updates: dict[int, dict[str, Any]], conn: sa.Connection | None = None) -> None:
        def run(c):
            for fid, values in updates.items():
                c.execute(frames_t.update().where(frames_t.c.id == fid).values(**values))

        if conn is not None:
            run(conn)
        else:
            with self.tx() as c:
                run(c)

    # -- jobs -----------------------------------------------------------------------------------
    def queue_jobs(self, iteration: int, picked: Sequence[int], updates: dict[int, dict[str, Any]],
                   stats: dict[str, Any]) -> None:
        """Selection of ``iteration`` in one transaction: frame statuses, queued jobs, phase label."""
        now = time.time()
        with self.tx() as c:
            self.update_frames(updates, c)
            if picked:
                c.execute(_insert(self.engine, jobs_t), [
                    {"frame_id": fid, "iteration": iteration, "status": "queued", "attempts": 0, "failures": 0,
                     "seconds": 0.0, "updated": now} for fid in picked])
            self._set_phase(c, iteration, "label", stats)

    def jobs(self, *where) -> list[sa.Row]:
        with self.tx() as c:
            return list(c.execute(sa.select(jobs_t, frames_t.c.hash, frames_t.c.extxyz)
                                  .join(frames_t, frames_t.c.id == jobs_t.c.frame_id).where(*where)
                                  .order_by(jobs_t.c.id)))

    def requeue_orphans(self) -> int:
        """Jobs left ``running`` by a stopped process go back to ``queued`` (their call is lost)."""
        with self.tx() as c:
            return c.execute(jobs_t.update().where(jobs_t.c.status == "running")
                             .values(status="queued", updated=time.time())).rowcount

    def start_job(self, job_id: int) -> None:
        with self.tx() as c:
            c.execute(jobs_t.update().where(jobs_t.c.id == job_id, jobs_t.c.status == "queued")
                      .values(status="running", attempts=jobs_t.c.attempts + 1, updated=time.time()))

    def finish_job(self, job_id: int, result: LabelResult, retries: int) -> str:
        """Record one finished call; returns the job's new status (done, failed or queued to retry)."""
        from active_learning.oracles.base import is_retryable

        now = time.time()
        with self.tx() as c:
            job = c.execute(sa.select(jobs_t).where(jobs_t.c.id == job_id)).one()
            if job.status == "done":  # never relabel: a late duplicate result is ignored
                return "done"
            c.execute(attempts_t.insert().values(job_id=job_id, ok=bool(result.ok), reason=result.reason,
                                                 seconds=float(result.seconds), finished=now))
            if result.ok:
                values = {"status": "done", "label": atoms_to_text(result.atoms), "reason": None}
            else:
                failures = job.failures + 1
                retry = failures <= retries and is_retryable(result.reason)
                values = {"status": "queued" if retry else "failed", "failures": failures, "reason": result.reason}
            c.execute(jobs_t.update().where(jobs_t.c.id == job_id)
                      .values(seconds=job.seconds + float(result.seconds), updated=now, **values))
            return values["status"]

    def attempts(self) -> list[sa.Row]:
        with self.tx() as c:
            return list(c.execute(sa.select(attempts_t).order_by(attempts_t.c.id)))

    def labelled_frames(self, upto_iteration: int | None = None) -> list[Atoms]:
        """Initial frames and every done label (up to ``upto_iteration``), in a stable order."""
        out = [text_to_atoms(r.extxyz) for r in self.frames(frames_t.c.status == "initial", columns=["extxyz"])]
        where = [jobs_t.c.status == "done"]
        if upto_iteration is not None:
            where.append(jobs_t.c.iteration <= upto_iteration)
        out += [text_to_atoms(r.label) for r in self.jobs(*where)]
        return out

    # -- iterations and models -------------------------------------------------------------------
    def _set_phase(self, c: sa.Connection, iteration: int, phase: str, stats: dict | None = None) -> None:
        row = c.execute(sa.select(iterations_t).where(iterations_t.c.iteration == iteration)).first()
        merged = {**(json.loads(row.stats) if row else {}), **(stats or {})}
        values = {"phase": phase, "stats": json.dumps(merged), "finished": time.time() if phase == "done" else None}
        if row is None:
            c.execute(iterations_t.insert().values(iteration=iteration, started=time.time(), **values))
        else:
            c.execute(iterations_t.update().where(iterations_t.c.iteration == iteration).values(**values))

    def set_phase(self, iteration: int, phase: str, stats: dict | None = None) -> None:
        with self.tx() as c:
            self._set_phase(c, iteration, phase, stats)

    def iterations(self) -> list[dict]:
        with self.tx() as c:
            rows = list(c.execute(sa.select(iterations_t).order_by(iterations_t.c.iteration)))
        return [{"iteration": r.iteration, "phase": r.phase, **json.loads(r.stats)} for r in rows]

    def add_model(self, iteration: int, path: Path, metrics: dict, stats: dict) -> None:
        """Record the committee of ``iteration`` and close the iteration (one transaction)."""
        with self.tx() as c:
            c.execute(_insert(self.engine, models_t).values(iteration=iteration, path=str(path),
                                                            metrics=json.dumps(metrics), created=time.time()))
            self._set_phase(c, iteration, "done", stats)

    def models(self) -> list[sa.Row]:
        with self.tx() as c:
            return list(c.execute(sa.select(models_t).order_by(models_t.c.iteration)))

    def counts(self) -> dict[str, int]:
        with self.tx() as c:
            rows = c.execute(sa.select(jobs_t.c.status, sa.func.count()).group_by(jobs_t.c.status))
            return {r[0]: r[1] for r in rows}

    def oracle_calls(self) -> int:
        with self.tx() as c:
            return int(c.execute(sa.select(sa.func.coalesce(sa.func.sum(jobs_t.c.attempts), 0))).scalar_one())


__all__ = ["CampaignStore", "atoms_to_text", "frames_t", "jobs_t", "sqlite_url", "text_to_atoms"]
