"""What :func:`active_learning.pipeline.run.run_pipeline` checks before its first step runs.

- :func:`check_config`: every block of a quickstart config, validated as the command of its step
  would validate it (a bad ``li_transport`` block fails in the first second, not after the
  campaign and the SEI formation MD);
- :func:`check_resume`: a folder run before records its config (``quickstart.yaml``); a config
  that changed in a key a finished step used is refused with one line, since resuming would mix
  results of two configs. A change that only feeds steps not run yet is accepted (and recorded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from active_learning.pipeline.config import QuickstartConfig, dataset_dir, split_file
from active_learning.pipeline.state import Pipeline
from active_learning.pipeline.steps import _protocol, campaign_config
from mlip.config import read_yaml, validate
from mlip.errors import UserError

#: the config keys whose values each step's results depend on directly
STEP_INPUTS: dict[str, set[str]] = {
    "data": {"dataset", "model"},
    "campaign": {"seed", "campaign", "al_iterations"},
    "sei_formation": {"model", "sei_formation"},
    "li_transport": {"model", "li_transport"},
    "analysis": {"analysis"},
    "validation": {"model", "validation"},
    "export": {"export", "allow_unvalidated"},
}
#: the steps whose results a step reads (a change there makes it stale too)
STEP_READS: dict[str, set[str]] = {"analysis": {"sei_formation", "li_transport"}, "export": {"analysis", "validation"}}


def check_config(cfg: QuickstartConfig, where: str, out: Path | None = None) -> None:
    """Validate every block of ``cfg`` (a ``QuickstartConfig``) before anything runs; one
    ``UserError`` naming ``where`` and the block otherwise. ``out``: the run folder (a campaign
    already initialised there is not checked again)."""
    from active_learning.campaign.config import CampaignConfig
    from active_learning.campaign.service import check_campaign
    from md_runs.export.check import default_cycle, make_experiment
    from md_runs.export.pybamm_json import base_parameter_values
    from md_runs.lammps.run import model_file
    from md_runs.protocols.config import load_protocol
    from md_runs.validation import suite_config

    def block(name: str, check) -> Any:
        try:
            return check()
        except UserError as exc:  # named after the block; a file the block names (a dataset folder) is kept
            generic = exc.where in (None, name, "protocol")
            raise UserError(exc.message if generic else str(exc), f"{where}: {name}") from None

    folder = block("dataset", lambda: dataset_dir(cfg.dataset))
    for split in ("train", "val", "test"):
        block("dataset", lambda s=split: split_file(folder, s))
    block("model", lambda: model_file(cfg.model))
    pipe = Pipeline(cfg, out or Path("."))
    analysis = cfg.analysis  # typed: a bad key failed when the config was read
    for name in ("sei_formation", "li_transport"):
        protocol, _ = block(name, lambda n=name: load_protocol(_protocol(pipe, n)))
        frames = protocol.steps.production // protocol.intervals.dump + 1
        if frames < analysis.min_frames:  # the analysis step would refuse the runs after all the MD
            raise UserError(f"steps.production {protocol.steps.production} with intervals.dump "
                            f"{protocol.intervals.dump} writes {frames} frames per run; the analysis needs at "
                            f"least {analysis.min_frames} (analysis.min_frames)", f"{where}: {name}")
    overrides = cfg.validation.model_dump(mode="json")
    block("validation", lambda: suite_config(str(overrides.pop("suite", "quick")), overrides, "validation"))
    export = cfg.export
    block("export", lambda: base_parameter_values(export.base))
    block("export", lambda: make_experiment(export.check.cycle or default_cycle(export.base), 1))
    if out is None or not (out / "campaign" / "campaign.yaml").exists():  # last: it builds the systems
        campaign = block("campaign", lambda: validate(CampaignConfig, campaign_config(cfg), "campaign")
                         .resolve_paths(Path.cwd()))
        block("campaign", lambda: check_campaign(campaign, "campaign"))


def _changes(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain-data configs."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out += _changes(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def stale_steps(changed: list[str], steps: list[str]) -> list[str]:
    """The steps (in ``steps`` order) whose results the changed keys make stale."""
    tops = {key.split(".")[0] for key in changed}
    unknown = tops - set().union(*STEP_INPUTS.values())  # a key no step is known to use: assume the worst
    stale: set[str] = set()
    for step in steps:  # PLAN order: what a step reads comes before it
        if step not in STEP_INPUTS or unknown or tops & STEP_INPUTS[step] or STEP_READS.get(step, set()) & stale:
            stale.add(step)
    return [s for s in steps if s in stale]


def check_resume(cfg, out: Path, steps: list[str], done: set[str]) -> None:
    """Refuse to resume ``out`` with a config whose changes feed a finished step (``done``)."""
    recorded = out / "quickstart.yaml"
    if not recorded.is_file():
        return
    old = validate(QuickstartConfig, read_yaml(recorded), str(recorded)).model_dump(mode="json")
    changed = _changes(old, cfg.model_dump(mode="json"))
    finished = [s for s in stale_steps(changed, steps) if s in done]
    if finished:
        keys = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
        raise UserError(f"this folder was run with another config ({keys} changed) and its finished step(s) "
                        f"{', '.join(finished)} used the old values: run into a new --out folder, or give the "
                        "recorded config back", str(recorded))
