"""``seimlip quickstart``'s config: :class:`QuickstartConfig` (every block the config of the command
that runs that step), the shipped configs (``--scale quick|production``) and the dataset helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

import md_runs

from active_learning.campaign.config import CampaignConfig
from md_runs.analysis.config import AnalysisConfig
from md_runs.export.config import ExportConfig
from md_runs.protocols.config import LiTransportConfig, SeiFormationConfig
from md_runs.validation.config import ValidationConfig
from mlip.config import StrictModel, load_config, overrides_model
from mlip.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
SCALES = {"quick": CONFIG_DIR / "quickstart.yaml", "production": CONFIG_DIR / "quickstart_production.yaml"}
MD_CONFIG_DIR = Path(md_runs.__file__).resolve().parent / "configs"
DATASETS_DIR = Path(__file__).resolve().parent.parent.parent / "datasets"


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
    campaign_start: Literal["model", "scratch"] = Field(
        "model", description="model: the campaign's first committee is fine-tuned from `model` (each member its "
        "own seed); scratch: trained from nothing on the campaign's initial data")
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


def load_quickstart_config(config: Path | None, scale: str) -> QuickstartConfig:
    if config is None:
        if scale not in SCALES:
            raise UserError(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
        config = SCALES[scale]
    return load_config(QuickstartConfig, config)
