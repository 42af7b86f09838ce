"""The campaign YAML (``seimlip al init --config campaign.yaml``), validated by strict models.

Sections: ``initial_data`` (labelled extxyz), ``test_data`` (a fixed held-out labelled set for
the test errors of each iteration), ``oracle`` (any ``active_learning.oracles`` config, GFN1-xTB
by default, or ``{kind: python, target: "module:Class", options: {...}}`` for an Oracle object),
``executor`` (local process pool or Parsl), ``exploration`` (builder specs, temperatures, MD
length; ASE or LAMMPS), ``selection`` (DP-GEN trust levels on the committee's max force
deviation, per-iteration budget by farthest-point sampling), ``training`` (committee, fine-tune
or scratch) and ``convergence``. Paths are resolved against the YAML's folder at ``init``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, Field, field_validator, model_validator

from active_learning.oracles.config import CP2KConfig, EspressoConfig, GPAWConfig, TBLiteConfig, VaspConfig
from mlip.config import StrictModel, overrides_model
from mlip.data.keys import LabelKeys
from mlip.model import ModelConfig
from mlip.train.config import TrainConfig, resolve_model_config
from mlip.data.species import DEFAULT_SPECIES


class PythonOracleConfig(StrictModel):
    """An Oracle object made by ``target`` ("module:callable") called with ``options``."""

    kind: Literal["python"] = "python"
    target: str = Field(..., pattern=r"^[\w.]+:[\w.]+$")
    options: dict[str, Any] = Field(default_factory=dict)


#: what ``oracle:`` of a campaign holds: one of the oracles' configs, by ``kind``
CampaignOracle = Annotated[Union[TBLiteConfig, CP2KConfig, VaspConfig, EspressoConfig, GPAWConfig, PythonOracleConfig],
                          Field(discriminator="kind")]


class ParslSettings(StrictModel):
    """A ``parsl.Config`` with one HighThroughputExecutor (``provider: local`` runs here)."""

    provider: Literal["local", "slurm", "pbspro"] = "local"
    partition: str | None = None
    account: str | None = None
    queue: str | None = Field(None, description="pbspro queue")
    walltime: str = "01:00:00"
    nodes_per_block: int = Field(1, ge=1)
    init_blocks: int = Field(1, ge=0)
    max_blocks: int = Field(1, ge=1)
    cores_per_worker: float = Field(1.0, gt=0)
    worker_init: str = ""
    scheduler_options: str = ""
    run_dir: str | None = Field(None, description="Parsl's run folder (default: CAMPAIGN/parsl)")


class ExecutorConfig(StrictModel):
    kind: Literal["local", "parsl"] = "local"
    workers: int = Field(2, ge=1, description="oracle calls at once")
    timeout_s: float = Field(600.0, gt=0, description="per oracle call")
    retries: int = Field(1, ge=0, description="extra tries after a timeout or crash")
    threads_per_worker: int = Field(1, ge=1)
    parsl: ParslSettings = Field(default_factory=ParslSettings)


class ExplorationSystem(StrictModel):
    name: str
    build: dict[str, Any] = Field(..., description="builder spec (md_runs.builders.build_from_spec)")
    temperatures: list[float] = Field(default_factory=lambda: [300.0], min_length=1)
    pressure_bar: float | None = Field(None, description="isotropic NPT at this pressure (liquids, crystals "
                                       "near melting); None: NVT in the built cell")

    @field_validator("temperatures")
    @classmethod
    def _temperatures(cls, v):
        from md_runs.protocols.config import check_temperatures  # the limits `seimlip md run` applies

        return check_temperatures(v)


class ExplorationConfig(StrictModel):
    engine: Literal["ase", "lammps"] = "ase"
    systems: list[ExplorationSystem] = Field(..., min_length=1)
    steps: int = Field(400, ge=1, description="MD steps per (system, temperature)")
    timestep_fs: float = Field(0.5, gt=0)
    interval: int = Field(20, ge=1, description="keep a snapshot every this many steps")
    friction: float = Field(0.02, gt=0, description="Langevin friction, 1/fs (ASE)")
    pdamp_fs: float = Field(500.0, gt=0, description="barostat time constant of NPT systems (fs)")
    stop_force_dev: float | None = Field(None, gt=0, description="end a trajectory above this max force dev (eV/Å)")


class SelectionConfig(StrictModel):
    trust_lo: float = Field(0.05, ge=0, description="eV/Å: below, a frame is accurate")
    trust_hi: float = Field(0.5, gt=0, description="eV/Å: above, a frame is discarded as unphysical")
    budget: int = Field(20, ge=1, description="oracle calls per iteration (filled by farthest-point sampling)")
    duplicate_distance: float = Field(1e-3, ge=0, description="descriptor distance below which a frame is a duplicate")

    @model_validator(mode="after")
    def _levels(self):
        if self.trust_hi <= self.trust_lo:
            raise ValueError("trust_hi must be above trust_lo")
        return self


#: TrainConfig keys each retraining sets from the campaign itself (training.epochs, ...), not overridable
SET_BY_CAMPAIGN = frozenset({"data", "model", "max_epochs", "max_time_minutes", "seed", "out_dir", "wandb"})
#: ``training.overrides``: any other TrainConfig key, checked as TrainConfig checks it
TrainOverrides = overrides_model(TrainConfig, SET_BY_CAMPAIGN, "TrainOverrides")


class TrainingConfig(StrictModel):
    committee_size: int = Field(4, ge=2)
    mode: Literal["finetune", "scratch"] = "finetune"
    model: ModelConfig = Field(default_factory=lambda: {"preset": "small"}, validate_default=True,
                               description="{preset: small|medium, **overrides} or a full ModelConfig")
    initial_epochs: int = Field(100, ge=1, description="epochs of the first committee (iteration 0)")
    epochs: int = Field(30, ge=1, description="epochs of each later committee")
    max_time_minutes: float | None = Field(None, gt=0, description="per member (makes runs non-reproducible)")
    val_fraction: float = Field(0.1, gt=0, lt=0.5)
    overrides: TrainOverrides = Field(default_factory=TrainOverrides, description="further TrainConfig keys "
                                      "(batch_size, optimizer, device, init_from, ...)")

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, v):
        return resolve_model_config(v)  # a bad key or value is an error at init, not after an iteration


class ConvergenceConfig(StrictModel):
    accurate_fraction: float = Field(0.99, gt=0, le=1)
    consecutive: int = Field(2, ge=1)
    max_oracle_calls: int = Field(2000, ge=1)
    max_iterations: int = Field(20, ge=1)


class WandbSettings(StrictModel):
    enabled: bool = True
    mode: Literal["offline", "online", "disabled"] = "offline"
    project: str = "seimlip-al"


class CampaignConfig(LabelKeys):
    """A campaign; ``energy_key``/``forces_key``/``stress_key`` name the labels of ``initial_data``
    and ``test_data`` (default: plain keys, else MACE's ``REF_*``)."""

    name: str = "campaign"
    seed: int = 0
    species: list[str] = Field(default_factory=lambda: list(DEFAULT_SPECIES))
    initial_data: list[str] = Field(..., min_length=1)
    initial_max_frames: int | None = Field(None, ge=1, description="take at most this many (seeded draw)")
    test_data: str | None = None
    test_max_frames: int | None = Field(None, ge=1)
    store_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///CAMPAIGN/campaign.db")
    oracle: CampaignOracle = Field(default_factory=TBLiteConfig, description="an oracle config by kind "
                                     "(tblite default, cp2k, vasp, espresso, gpaw) or a python Oracle")
    cell_rules: Optional[Any] = Field(
        None, description="converged cell sizes for the oracle (a shipped name or a mapping; "
                          "active_learning/oracles/cell_rules.py): smaller frames are tiled or refused")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    exploration: ExplorationConfig
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    convergence: ConvergenceConfig = Field(default_factory=ConvergenceConfig)
    wandb: WandbSettings = Field(default_factory=WandbSettings)

    @field_validator("oracle", mode="before")
    @classmethod
    def _oracle(cls, v):
        return {"kind": "tblite", **v} if isinstance(v, dict) else v  # kind defaults to tblite

    @model_validator(mode="after")
    def _rules_fit_the_oracle(self):
        from active_learning.oracles.cell_rules import check_oracle, load_cell_rules

        rules = load_cell_rules(self.cell_rules)
        if rules is not None and self.oracle.kind != "python":
            check_oracle(rules, self.oracle)
        return self

    def resolve_paths(self, base: Path) -> "CampaignConfig":
        def fix(p: str | None) -> str | None:
            if p is None:
                return None
            path = Path(p).expanduser()
            return str(path if path.is_absolute() else (base / path).resolve())

        return self.model_copy(update={"initial_data": [fix(p) for p in self.initial_data],
                                       "test_data": fix(self.test_data)})


def oracle_model(data: dict[str, Any] | BaseModel | None):
    """The validated oracle config (an ``active_learning.oracles`` model or PythonOracleConfig)."""
    from mlip.config import validate
    from active_learning.oracles.config import parse_oracle_config

    if isinstance(data, BaseModel):
        return data
    data = dict(data or {})
    if data.get("kind") == "python":
        return validate(PythonOracleConfig, data, "oracle")
    return parse_oracle_config(data)


def make_oracle_spec(data: dict[str, Any] | BaseModel):
    """What the oracle pool runs: an oracle config model, or the Oracle object of a python oracle."""
    import importlib

    config = oracle_model(data)
    if isinstance(config, PythonOracleConfig):
        module, _, attr = config.target.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj(**config.options)
    return config


def oracle_fingerprint(data: dict[str, Any] | BaseModel) -> str:
    import hashlib
    import json

    from active_learning.oracles.config import fingerprint

    config = oracle_model(data)
    if isinstance(config, PythonOracleConfig):
        text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
        return f"python-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    return fingerprint(config)
