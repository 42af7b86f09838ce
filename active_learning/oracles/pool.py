"""Oracle calls in worker processes that can be killed: a hung call ends at its timeout.

``concurrent.futures`` cannot stop one running job, so this is a small pool of its own: each
worker is a fresh Python process (``python -c``, its own session and process group,
single-threaded by default) that labels one frame at a time and talks to the parent over a
pair of pipes. Unlike multiprocessing's spawn it never re-imports the caller's ``__main__``,
so a plain script without an ``if __name__ == "__main__"`` guard works.
When a call passes its timeout, or the worker dies (segfault, OOM kill), the parent kills the
worker's whole process group (an external code such as a CP2K shell goes with it), records the
failure, and starts a fresh worker in its place. Workers watch their parent and kill themselves
if it disappears (even by SIGKILL), so no orphan keeps burning CPU.

Usage::

    with OraclePool(config, workers=2, timeout=600) as pool:
        pool.submit("key", atoms)            # while pool.idle() > 0
        for key, result in pool.wait(0.5):   # finished calls (timeouts and crashes included)
            ...
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from ase import Atoms
from pydantic import BaseModel

from active_learning.oracles.base import LabelResult, first_line

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
STARTUP_GRACE = 120.0  # s a fresh worker may take to import its libraries before a call starts
WORKER_CODE = "from active_learning.oracles.pool import _worker_entry; _worker_entry()"


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            try:
                if os.getpgrp() == os.getpid():
                    os.killpg(os.getpid(), signal.SIGKILL)
            finally:
                os._exit(1)


def _worker_entry() -> None:
    """``python -c`` entry of a worker: argv = [read fd, write fd, parent pid]."""

    read_fd, write_fd, parent_pid = (int(x) for x in sys.argv[1:4])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    oracle, error = None, None
    try:
        spec = inbox.recv()
        if isinstance(spec, BaseModel) or spec is None or isinstance(spec, dict):
            from active_learning.oracles.config import make_oracle

            oracle = make_oracle(spec)
        else:
            oracle = spec
    except Exception as exc:  # noqa: BLE001
        error = f"crash: cannot create the oracle: {first_line(exc)}"
    while True:
        try:
            message = inbox.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        key, atoms = message
        outbox.send(("start", key))  # the timeout clock starts here, not at the worker's launch
        start = time.perf_counter()
        if oracle is None:
            result = LabelResult(False, None, error, 0.0)
        else:
            try:
                result = oracle.label(atoms)
            except BaseException as exc:  # noqa: BLE001 - an oracle must not kill the worker
                result = LabelResult(False, None, f"crash: {first_line(exc)}", time.perf_counter() - start)
        try:
            outbox.send(("done", key, result))
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable result
            reason = f"crash: cannot send result: {first_line(exc)}"
            outbox.send(("done", key, LabelResult(False, None, reason, 0.0)))


def _worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({v: str(threads) for v in THREAD_VARS})
    paths = [p or os.getcwd() for p in sys.path]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if os.path.isdir(p)))
    return env


@dataclass
class _Worker:
    process: subprocess.Popen
    inbox: Connection  # parent -> worker
    conn: Connection  # worker -> parent
    key: str | None = None
    submitted: float = field(default=0.0)
    started: float | None = None  # when the worker began the call (None: still starting up)

    def deadline(self, timeout: float) -> float:
        if self.started is None:  # a fresh worker is still importing: allow for that too
            return self.submitted + STARTUP_GRACE + timeout
        return self.started + timeout


class OraclePool:
    """``workers`` processes running ``oracle`` (a config, or a picklable Oracle object)."""

    def __init__(self, oracle: Any = None, workers: int = 2, timeout: float = 600.0, threads: int = 1):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.spec = oracle
        self.timeout = float(timeout)
        self.threads = threads
        self._workers: list[_Worker] = [self._start() for _ in range(workers)]

    def _start(self) -> _Worker:
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", WORKER_CODE, str(to_child_r), str(to_parent_w), str(os.getpid())],
                pass_fds=(to_child_r, to_parent_w),
                start_new_session=True,  # own process group: killed together with its children
                env=_worker_env(self.threads),
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(to_child_r)
            os.close(to_parent_w)
        worker = _Worker(process, Connection(to_child_w, readable=False), Connection(to_parent_r, writable=False))
        worker.inbox.send(self.spec)
        return worker

    @staticmethod
    def _kill(worker: _Worker) -> None:
        try:
            os.killpg(worker.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            pass
        try:
            worker.process.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not wait
            pass
        worker.inbox.close()
        worker.conn.close()

    def idle(self) -> int:
        return sum(w.key is None for w in self._workers)

    def busy(self) -> int:
        return len(self._workers) - self.idle()

    def submit(self, key: str, atoms: Atoms) -> None:
        for i, worker in enumerate(self._workers):
            if worker.key is None:
                if worker.process.poll() is not None:
                    self._kill(worker)
                    worker = self._workers[i] = self._start()
                worker.key, worker.submitted, worker.started = key, time.monotonic(), None
                try:
                    worker.inbox.send((key, atoms))
                except OSError:  # died between the check and the send: wait() reports it
                    pass
                return
        raise RuntimeError("no idle worker: call wait() first")

    def _replace(self, worker: _Worker) -> None:
        self._kill(worker)
        self._workers[self._workers.index(worker)] = self._start()

    def wait(self, timeout: float = 0.5) -> list[tuple[str, LabelResult]]:
        """Results finished within ``timeout`` seconds (timeouts and dead workers included)."""
        busy = [w for w in self._workers if w.key is not None]
        if not busy:
            return []
        nearest = min(w.deadline(self.timeout) for w in busy)
        ready = wait([w.conn for w in busy], timeout=max(0.0, min(timeout, nearest - time.monotonic())))
        results: list[tuple[str, LabelResult]] = []
        for worker in busy:
            if worker.conn not in ready:
                continue
            try:
                while worker.key is not None and worker.conn.poll():
                    message = worker.conn.recv()
                    if message[0] == "start":
                        worker.started = time.monotonic()
                    else:
                        _, key, result = message
                        worker.key, worker.started = None, None
                        results.append((key, result))
            except (EOFError, OSError):
                try:
                    code = worker.process.wait(2)
                except subprocess.TimeoutExpired:
                    code = None
                why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                elapsed = time.monotonic() - (worker.started or worker.submitted)
                results.append((worker.key, LabelResult(False, None, f"crash: worker process died ({why})", elapsed)))
                self._replace(worker)
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.key is not None and now > worker.deadline(self.timeout):
                key, elapsed = worker.key, now - (worker.started or worker.submitted)
                self._replace(worker)
                results.append((key, LabelResult(False, None, f"timeout after {self.timeout:g} s", elapsed)))
        return results

    def close(self) -> None:
        for worker in self._workers:
            if worker.key is None and worker.process.poll() is None:
                try:
                    worker.inbox.send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + 2.0
        for worker in self._workers:
            if worker.key is None:
                try:
                    worker.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            self._kill(worker)
        self._workers = []

    def __enter__(self) -> "OraclePool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
