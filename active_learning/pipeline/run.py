"""``seimlip quickstart``'s driver: the pre-flight check, every step in order, then the report."""

from __future__ import annotations

import json
from pathlib import Path

from rich.rule import Rule

from active_learning.pipeline import steps
from active_learning.pipeline.config import QuickstartConfig
from active_learning.pipeline.state import Pipeline, console
from active_learning.pipeline.check import check_config, check_resume
from active_learning.pipeline.report import write_report
from mlip.config import dump_config
from mlip.utils import provenance, write_json_atomic


def run_pipeline(cfg: QuickstartConfig, out: Path, source: str | None = None) -> Path:
    """Run every step into ``out`` (resuming), write the report, return its HTML path. ``source``
    (the config file) is named in errors."""
    out = Path(out).resolve()
    check_config(cfg, source or "quickstart config", out)
    pipe = Pipeline(cfg, out)
    refused = pipe.record_path("export")
    if cfg.allow_unvalidated and refused.is_file() and json.loads(refused.read_text()).get("refused"):
        refused.unlink()  # the export the gate refused is redone now that it is allowed (and marked)
    plan = steps.PLAN
    names = [name for name, _, _ in plan]
    check_resume(cfg, out, names, {name for name in names if pipe.record_path(name).is_file()})
    out.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, out / "quickstart.yaml")
    if not (out / "provenance.json").exists():
        write_json_atomic(out / "provenance.json", provenance(cfg.seed))
    for i, (name, title, func) in enumerate(plan, 1):
        pipe.step(i, len(plan) + 1, name, title, lambda f=func: f(pipe))
    console.print(Rule(f"{len(plan) + 1}/{len(plan) + 1} report"))
    md, html = write_report(pipe)
    console.print(f"[bold green]quickstart finished[/]: {html}")
    return html
