"""The main job end to end: shipped data and model -> active learning -> MD -> analysis -> PyBaMM.

``seimlip quickstart`` runs :func:`active_learning.pipeline_run.run_pipeline` on an embedded config (``configs/quickstart.yaml``;
``--scale production`` picks ``configs/quickstart_production.yaml``). Each step writes its outputs
under its own folder of the run folder and, when it has finished, a record ``steps/<step>.json``;
a step with a record is skipped, and the long steps (campaign, MD) resume inside themselves, so an
interrupted run (SIGINT or SIGKILL) continues where it stopped. The whole config is checked before
the first step (:mod:`active_learning.pipeline_check`), and a resume with a config that changed in
something a finished step used is refused. Records name files relative to the run folder, so a
copied or moved run folder resumes too.

This module holds what every step shares (the config, :class:`Pipeline`, the dataset helpers);
the steps (``pipeline_steps``), the pre-flight check (``pipeline_check``) and the report
(``pipeline_report``) build on it, and ``pipeline_run`` runs them in order.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import Field

import md_runs
from rich.console import Console
from rich.rule import Rule

from active_learning.campaign.config import CampaignConfig
from md_runs.analysis.config import AnalysisConfig
from md_runs.export.config import ExportConfig
from md_runs.protocols.config import LiTransportConfig, SeiFormationConfig
from md_runs.validation.config import ValidationConfig
from mlip.config import StrictModel, load_config, overrides_model
from mlip.errors import UserError
from mlip.utils import read_json_document, write_json_atomic

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
SCALES = {"quick": CONFIG_DIR / "quickstart.yaml", "production": CONFIG_DIR / "quickstart_production.yaml"}
MD_CONFIG_DIR = Path(md_runs.__file__).resolve().parent / "configs"
DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"

console = Console()


# the blocks that change a shipped config key by key: each key checked as that config checks it
CampaignOverrides = overrides_model(CampaignConfig, deep=True, name="CampaignOverrides")
SeiFormationOverrides = overrides_model(SeiFormationConfig, deep=True, name="SeiFormationOverrides")
LiTransportOverrides = overrides_model(LiTransportConfig, deep=True, name="LiTransportOverrides")
ValidationOverrides = overrides_model(ValidationConfig, deep=True, name="ValidationOverrides")


class QuickstartConfig(StrictModel):
    """What the pipeline runs; every block is the config of the command that runs that step."""

    seed: int = 0
    dataset: str = Field("li_ec_gfn1", description="shipped dataset name (datasets/<name>) or a folder with train/val/test")
    model: str = Field("li-ec-gfn1", description="starting model: shipped name or checkpoint")
    campaign: CampaignOverrides = Field(default_factory=CampaignOverrides, description="active-learning campaign "
                                        "(seimlip al init): keys of configs/campaign_quick.yaml to change")
    al_iterations: int = Field(1, ge=0, description="active-learning iterations to run")
    sei_formation: SeiFormationOverrides = Field(default_factory=SeiFormationOverrides, description="protocol for "
                                                 "seimlip md run: keys of md_runs/configs/sei_formation.yaml to change")
    li_transport: LiTransportOverrides = Field(default_factory=LiTransportOverrides, description="protocol for "
                                               "seimlip md run: keys of md_runs/configs/li_transport.yaml to change")
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig, description="seimlip analyze config")
    export: ExportConfig = Field(default_factory=ExportConfig, description="seimlip export pybamm config")
    validation: ValidationOverrides = Field(default_factory=ValidationOverrides, description="seimlip validate "
                                            "--suite quick overrides (suite: full for the full suite)")
    allow_unvalidated: bool = Field(False, description="export parameters of failed phases / melted runs, marked")


def dataset_dir(name: str) -> Path:
    path = Path(name)
    if not path.is_dir():
        path = DATASETS_DIR / name
    if not all((path / f"{s}.extxyz.gz").is_file() or (path / f"{s}.extxyz").is_file()
               for s in ("train", "val", "test")):
        raise UserError("dataset folder needs train/val/test.extxyz(.gz) (a clone of the repository "
                        "ships datasets/li_ec_gfn1)", str(path))
    return path


def split_file(folder: Path, split: str) -> Path:
    for name in (f"{split}.extxyz.gz", f"{split}.extxyz"):
        if (folder / name).is_file():
            return folder / name
    raise UserError(f"no {split} split", str(folder))


class Pipeline:
    """Steps over one run folder; ``records`` holds what each finished step reported."""

    def __init__(self, cfg: QuickstartConfig, out: Path):
        self.cfg, self.out = cfg, out
        self.records: dict[str, dict] = {}

    def record_path(self, step: str) -> Path:
        return self.out / "steps" / f"{step}.json"

    def portable(self, value: Any) -> Any:
        """``value`` (a record) with every path below the run folder written ``./relative``."""
        base = str(self.out.resolve()).rstrip(os.sep) + os.sep
        return _map_strings(value, lambda s: "./" + s[len(base):] if s.startswith(base) else s)

    def located(self, value: Any) -> Any:
        """A record read back: its ``./relative`` paths below this run folder, wherever it is now."""
        return _map_strings(value, lambda s: str(self.out / s[2:]) if s.startswith("./") else s)

    def step(self, index: int, total: int, step: str, title: str, run: Callable[[], dict]) -> dict:
        console.print(Rule(f"{index}/{total} {title}"))
        path = self.record_path(step)
        if path.is_file():
            record = self.located(read_json_document(path, "quickstart step record"))
            console.print(f"[green]done already[/] ({record.get('seconds', 0):.0f} s in an earlier run)")
        else:
            start = time.perf_counter()
            record = run() or {}
            record["seconds"] = time.perf_counter() - start
            write_json_atomic(path, self.portable(record), default=str)
            console.print(f"[green]finished[/] in {record['seconds']:.0f} s")
        self.records[step] = record
        return record


def load_quickstart_config(config: Path | None, scale: str) -> QuickstartConfig:
    if config is None:
        if scale not in SCALES:
            raise UserError(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
        config = SCALES[scale]
    return load_config(QuickstartConfig, config)


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    return value
