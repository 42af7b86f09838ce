"""The active-learning loop: ``run_campaign(campaign_dir)``, resumable after any stop.

Iteration 0 trains the first committee on the initial data. Iteration i >= 1 goes through the
phases recorded in the store: ``explore`` (MD with committee i-1, plus the frames submitted since;
each frame scored by its max force deviation and classified; unphysical frames filtered) ->
``select`` (farthest-point sampling on learned descriptors fills the budget from the candidates)
-> ``label`` (reference jobs on the executor) -> ``train`` (committee i on every label so far) ->
``done`` (test errors; convergence check). A stop at any point redoes at most the current phase's
unrecorded work: exploration and selection are committed in one transaction each and are
deterministic, labels are stored one by one, training resumes member by member.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from active_learning.campaign import retrain
from active_learning.campaign.config import CampaignConfig, make_oracle_spec
from active_learning.campaign.explore import explore
from active_learning.campaign.label_step import label_jobs
from active_learning.campaign.selection import classify, farthest_point_sampling, unphysical_reason
from active_learning.campaign.service import load_campaign, test_frames
from active_learning.campaign.store import CampaignStore, frames_t, text_to_atoms
from active_learning.oracles.cell_rules import load_cell_rules, oracle_settings
from mlip.errors import UserError
from mlip.utils.console import progress_bar


@dataclass
class CampaignSummary:
    iterations: int  # completed iterations after the first committee (iteration 0)
    converged: bool
    stopped_by: str  # converged, oracle_budget, max_iterations
    oracle_calls: int
    labelled: int
    model: Path | None  # the latest deployed committee
    table: list[dict] = field(default_factory=list)


def _run_lock(campaign_dir: Path):
    from mlip.locks import exclusive

    return exclusive(campaign_dir / "run.lock", wait=False, where=str(campaign_dir),
                     busy="another `seimlip al run` is working on this campaign")


def _stop_reason(cfg: CampaignConfig, store: CampaignStore, table: list[dict], cap: int) -> str | None:
    conv = cfg.convergence
    done = [r for r in table if r["phase"] == "done" and r["iteration"] > 0]
    recent = done[-conv.consecutive:]
    if len(recent) == conv.consecutive and all(r.get("accurate_fraction", 0.0) >= conv.accurate_fraction
                                               for r in recent):
        return "converged"
    if store.oracle_calls() >= conv.max_oracle_calls:
        return "oracle_budget"
    finished = [r["iteration"] for r in table if r["phase"] == "done"]  # iteration 0 too: cap 0 = initial training only
    if finished and finished[-1] >= cap:
        return "max_iterations"
    return None


def _explore_phase(cfg: CampaignConfig, store: CampaignStore, campaign_dir: Path, it: int, progress: bool) -> None:
    with progress_bar(progress) as bar:
        _explore(cfg, store, campaign_dir, it, bar)


def _explore(cfg: CampaignConfig, store: CampaignStore, campaign_dir: Path, it: int, bar) -> None:
    from mlip.deploy import load_calculator

    model = retrain.committee_path(campaign_dir, it - 1)
    task = bar.add_task(f"iter {it}: exploring", total=sum(len(s.temperatures) for s in cfg.exploration.systems))
    frames = explore(model, cfg.exploration, cfg.seed, it, campaign_dir / "explore" / f"iter_{it:03d}",
                     progress=lambda: bar.advance(task))
    sel = cfg.selection
    statuses = []
    for atoms in frames:
        why = unphysical_reason(atoms, reference_volume=atoms.info.pop("_reference_volume", None))
        statuses.append("unphysical" if why else classify(atoms.info["max_force_dev"], sel.trust_lo, sel.trust_hi))
    pending = store.frames(frames_t.c.status == "pending")
    updates = {}
    if pending:
        calc = load_calculator(str(model), device="cpu")
        for row in pending:
            atoms = text_to_atoms(row.extxyz)
            atoms.calc = calc
            dev = float(calc.get_property("max_force_dev", atoms)) if not unphysical_reason(atoms) else np.nan
            status = "unphysical" if np.isnan(dev) else classify(dev, sel.trust_lo, sel.trust_hi)
            updates[row.id] = {"iteration": it, "status": status, "max_force_dev": None if np.isnan(dev) else dev}
    counts = {s: statuses.count(s) + sum(u["status"] == s for u in updates.values())
              for s in ("accurate", "candidate", "discarded", "unphysical")}
    n = len(frames) + len(updates)
    stats = {"explored": len(frames), "submitted": len(updates), **counts,
             "accurate_fraction": counts["accurate"] / n if n else 0.0,
             "candidate_fraction": counts["candidate"] / n if n else 0.0,
             "max_force_dev_mean": float(np.nanmean([a.info["max_force_dev"] for a in frames])) if frames else None}
    with store.tx() as c:
        store.add_frames(frames, "explore", "explored", statuses, iteration=it,
                         max_force_dev=[a.info["max_force_dev"] for a in frames], conn=c)
        store.update_frames(updates, c)
        store._set_phase(c, it, "select", stats)
    bar.update(task, description=f"iter {it}: explored {n} frames, {counts['candidate']} candidates")


def _select_phase(cfg: CampaignConfig, store: CampaignStore, campaign_dir: Path, it: int) -> None:
    from mlip.model.descriptors import frame_descriptors
    from mlip.model.io import load_potential as load_model

    rows = store.frames(frames_t.c.iteration == it, frames_t.c.status == "candidate")
    remaining = cfg.convergence.max_oracle_calls - store.oracle_calls()
    budget = max(0, min(cfg.selection.budget, remaining))
    updates: dict[int, dict] = {}
    picked_ids: list[int] = []
    if rows:
        model = load_model(retrain.member_checkpoint(campaign_dir, it - 1))
        cand = frame_descriptors(model, [text_to_atoms(r.extxyz) for r in rows])
        labelled = frame_descriptors(model, store.labelled_frames())
        picked, dups = farthest_point_sampling(cand, budget, labelled, cfg.selection.duplicate_distance,
                                               seed=cfg.seed + it)
        picked_ids = [rows[k].id for k in picked]
        for k, row in enumerate(rows):
            status = "selected" if k in picked else ("duplicate" if k in dups else "skipped")
            updates[row.id] = {"status": status, "descriptor": cand[k].astype("<f8").tobytes(),
                               "descriptor_model": it - 1}
    store.queue_jobs(it, picked_ids, updates, {"selected": len(picked_ids),
                                               "duplicates": sum(u["status"] == "duplicate" for u in updates.values())})


def _train_phase(cfg: CampaignConfig, store: CampaignStore, campaign_dir: Path, it: int, tests, wandb) -> None:
    frames = store.labelled_frames(upto_iteration=it)
    model = retrain.train_iteration(cfg, campaign_dir, it, frames)
    metrics = retrain.test_metrics(model, tests)
    counts = store.counts()
    stats = {"labelled_total": len(frames), "oracle_calls": store.oracle_calls(),
             "failed_total": counts.get("failed", 0), **{f"test_{k}": v for k, v in metrics.items()}}
    store.add_model(it, model, metrics, stats)
    row = next(r for r in store.iterations() if r["iteration"] == it)
    wandb.log({k: v for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}, step=it)


def _label_phase(cfg: CampaignConfig, store: CampaignStore, campaign_dir: Path, it: int, progress: bool) -> None:
    from active_learning.campaign.store import jobs_t

    total = len(store.jobs(jobs_t.c.iteration == it))
    with progress_bar(progress) as bar:
        task = bar.add_task(f"iter {it}: labelling", total=total)
        bar.update(task, completed=len(store.jobs(jobs_t.c.iteration == it, jobs_t.c.status.in_(["done", "failed"]))))
        rules = load_cell_rules(cfg.cell_rules)
        settings = oracle_settings(None if cfg.oracle.kind == "python" else cfg.oracle)
        counts = label_jobs(store, it, make_oracle_spec(cfg.oracle), cfg.executor, campaign_dir,
                            on_result=lambda status: bar.advance(task), cell_rules=rules, oracle_settings=settings)
    n = sum(counts.values())
    store.set_phase(it, "train", {"labelled": counts.get("done", 0), "failed": counts.get("failed", 0),
                                  "failed_fraction": counts.get("failed", 0) / n if n else 0.0})


def run_campaign(campaign_dir: str | os.PathLike, max_iterations: int | None = None,
                 progress: bool = True) -> CampaignSummary:
    """Run (or continue) the campaign until it converges, spends its oracle budget, or completes
    iteration ``max_iterations`` (default: ``convergence.max_iterations``)."""
    from mlip.train.config import WandbConfig
    from mlip.train.logging import WandbRun

    campaign_dir = Path(campaign_dir)
    if max_iterations is not None and max_iterations < 0:
        raise UserError(f"must be 0 (the initial training only) or more, got {max_iterations}", "--max-iterations")
    cfg, store = load_campaign(campaign_dir)
    cap = max_iterations if max_iterations is not None else cfg.convergence.max_iterations
    tests = test_frames(cfg)
    wb = cfg.wandb
    wandb = WandbRun(WandbConfig(enabled=wb.enabled, mode=wb.mode, project=wb.project, name=cfg.name),
                     campaign_dir, cfg.model_dump(mode="json"), store.get_meta("wandb_id"))
    store.set_meta("wandb_id", wandb.run_id)
    try:
        with _run_lock(campaign_dir):
            store.requeue_orphans()
            while True:
                table = store.iterations()
                current = table[-1]
                it, phase = current["iteration"], current["phase"]
                if phase == "done":
                    reason = _stop_reason(cfg, store, table, cap)
                    if reason is not None:
                        break
                    store.set_phase(it + 1, "explore")
                    continue
                if phase == "explore":
                    _explore_phase(cfg, store, campaign_dir, it, progress)
                elif phase == "select":
                    _select_phase(cfg, store, campaign_dir, it)
                elif phase == "label":
                    _label_phase(cfg, store, campaign_dir, it, progress)
                elif phase == "train":
                    _train_phase(cfg, store, campaign_dir, it, tests, wandb)
                else:  # pragma: no cover - the store only holds the phases above
                    raise UserError(f"unknown phase {phase!r} of iteration {it}", "campaign.db")
        from active_learning.campaign.iteration_report import write_plots

        table = store.iterations()
        write_plots(table, campaign_dir / "plots")
        models = store.models()
        done = [r for r in table if r["phase"] == "done" and r["iteration"] > 0]
        return CampaignSummary(iterations=len(done), converged=reason == "converged", stopped_by=reason,
                               oracle_calls=store.oracle_calls(), labelled=len(store.labelled_frames()),
                               model=retrain.committee_path(campaign_dir, models[-1].iteration) if models else None,
                               table=table)
    finally:
        wandb.finish()
        store.close()


__all__ = ["CampaignSummary", "run_campaign"]
