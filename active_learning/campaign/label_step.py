"""The labelling phase: run every queued reference job of an iteration on the executor.

The store is the source of truth: a job is marked ``running`` (attempts + 1) in one transaction
before it is submitted, and its result (label, or failure with the reason; a timeout or crash
goes back to ``queued`` while retries remain) in one transaction when it returns. A failed job
never stops the loop; a done job is never submitted again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from active_learning.campaign.config import ExecutorConfig
from active_learning.campaign.executors import make_executor
from active_learning.campaign.store import CampaignStore, jobs_t, text_to_atoms
from active_learning.oracles.base import LabelResult
from active_learning.oracles.cell_rules import CellRules, prepare_frame


def label_jobs(store: CampaignStore, iteration: int, oracle: Any, config: ExecutorConfig, campaign_dir: Path,
               on_result: Callable[[str], None] | None = None, cell_rules: CellRules | None = None,
               oracle_settings: dict | None = None) -> dict[str, int]:
    """Label the queued jobs of ``iteration``; returns {status: count} of its jobs at the end.

    With ``cell_rules`` a frame below its family's converged size is tiled up to it before the
    call, or fails at once with the reason (no oracle call); the label records the rule and the
    ``oracle_settings``."""
    queue = [(row.id, row.extxyz) for row in store.jobs(jobs_t.c.iteration == iteration, jobs_t.c.status == "queued")]
    if queue:
        with make_executor(oracle, config, campaign_dir) as executor:
            queue.reverse()
            while queue or executor.busy():
                while queue and executor.idle():
                    job_id, text = queue.pop()
                    store.start_job(job_id)
                    prepared = prepare_frame(text_to_atoms(text), cell_rules, oracle_settings or {})
                    if prepared.atoms is None:
                        status = store.finish_job(job_id, LabelResult(False, reason=prepared.reason), config.retries)
                        if on_result is not None:
                            on_result(status)
                        continue
                    executor.submit(str(job_id), prepared.atoms)
                for key, result in executor.wait(0.5):
                    status = store.finish_job(int(key), result, config.retries)
                    if status == "queued":  # retried after the jobs not yet tried
                        row = store.jobs(jobs_t.c.id == int(key))[0]
                        queue.insert(0, (row.id, row.extxyz))
                    elif on_result is not None:
                        on_result(status)
    counts: dict[str, int] = {}
    for row in store.jobs(jobs_t.c.iteration == iteration):
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


__all__ = ["label_jobs"]
