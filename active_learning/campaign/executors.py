"""Where reference jobs run: ``LocalExecutor`` (embedded process pool, the default) or
``ParslExecutor`` (Parsl HighThroughputExecutor on Slurm, PBS Pro or this machine).

Both have the ``OraclePool`` interface: ``idle()``, ``busy()``, ``submit(key, atoms)``,
``wait(timeout) -> [(key, LabelResult)]``, ``close()``. A timeout or a crash comes back as a
failed ``LabelResult`` with its reason; the campaign store records it, Parsl's own state is
never trusted.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ase import Atoms

from active_learning.campaign.config import ExecutorConfig, ParslSettings
from active_learning.oracles.base import LabelResult, first_line
from active_learning.oracles.pool import OraclePool


class LocalExecutor(OraclePool):
    """The embedded default: killable worker processes (``active_learning.oracles.pool``)."""

    def __init__(self, oracle: Any, config: ExecutorConfig):
        super().__init__(oracle, workers=config.workers, timeout=config.timeout_s, threads=config.threads_per_worker)


def _label_remote(oracle: Any, atoms: Atoms, walltime: int = 600) -> LabelResult:
    """Runs on a Parsl worker: build the oracle (a config or an object) and label one frame
    (``walltime``, s, is enforced by Parsl)."""
    from active_learning.oracles.config import make_oracle

    if hasattr(oracle, "label"):
        return oracle.label(atoms)
    return make_oracle(oracle).label(atoms)


def parsl_config(settings: ParslSettings, workers: int, run_dir: Path):
    """A ``parsl.Config`` with one HighThroughputExecutor on the provider of ``settings``."""
    from parsl.config import Config
    from parsl.executors import HighThroughputExecutor
    from parsl.providers import LocalProvider, PBSProProvider, SlurmProvider

    common = dict(init_blocks=settings.init_blocks, max_blocks=settings.max_blocks, worker_init=settings.worker_init)
    if settings.provider == "slurm":
        from parsl.launchers import SrunLauncher

        provider = SlurmProvider(partition=settings.partition, account=settings.account, walltime=settings.walltime,
                                 nodes_per_block=settings.nodes_per_block, scheduler_options=settings.scheduler_options,
                                 launcher=SrunLauncher(), **common)
    elif settings.provider == "pbspro":
        provider = PBSProProvider(queue=settings.queue, account=settings.account, walltime=settings.walltime,
                                  nodes_per_block=settings.nodes_per_block, scheduler_options=settings.scheduler_options,
                                  **common)
    else:
        provider = LocalProvider(init_blocks=1, min_blocks=0, max_blocks=1, worker_init=settings.worker_init)
    htex = HighThroughputExecutor(label="oracle", cores_per_worker=settings.cores_per_worker,
                                  max_workers_per_node=workers, provider=provider)
    return Config(executors=[htex], run_dir=str(run_dir), strategy="simple", initialize_logging=False)


def _venv_on_path() -> None:
    """Parsl starts its interchange and workers as programs of this environment's bin/."""
    import os
    import sys

    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])


class ParslExecutor:
    """Oracle calls as Parsl apps; a call past ``timeout_s`` is reported as a timeout (Parsl's
    ``walltime`` ends it on the worker)."""

    def __init__(self, oracle: Any, config: ExecutorConfig, campaign_dir: Path):
        import parsl
        from parsl import python_app

        self.workers, self.timeout = config.workers, config.timeout_s
        _venv_on_path()
        self.oracle = oracle
        run_dir = Path(config.parsl.run_dir or Path(campaign_dir) / "parsl")
        self.dfk = parsl.load(parsl_config(config.parsl, config.workers, run_dir))
        self.app = python_app(_label_remote, executors=["oracle"])
        self.futures: dict[str, tuple[Future, float]] = {}

    def idle(self) -> int:
        return max(0, self.workers - len(self.futures))

    def busy(self) -> int:
        return len(self.futures)

    def submit(self, key: str, atoms: Atoms) -> None:
        future = self.app(self.oracle, atoms, walltime=int(max(1, round(self.timeout))))
        self.futures[key] = (future, time.monotonic())

    def wait(self, timeout: float = 0.5) -> list[tuple[str, LabelResult]]:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures

        if not self.futures:
            return []
        wait_futures([f for f, _ in self.futures.values()], timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for key, (future, submitted) in list(self.futures.items()):
            if not future.done():
                continue
            del self.futures[key]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - a remote failure is a recorded failure
                name = type(exc).__name__
                reason = f"timeout after {self.timeout:g} s" if "Walltime" in name else f"crash: {first_line(exc)}"
                result = LabelResult(False, None, reason, time.monotonic() - submitted)
            out.append((key, result))
        return out

    def close(self) -> None:
        import parsl

        try:
            self.dfk.cleanup()
        finally:
            parsl.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def make_executor(oracle: Any, config: ExecutorConfig, campaign_dir: Path):
    if config.kind == "parsl":
        return ParslExecutor(oracle, config, campaign_dir)
    return LocalExecutor(oracle, config)


__all__ = ["LocalExecutor", "ParslExecutor", "make_executor", "parsl_config"]
