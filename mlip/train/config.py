"""The training configuration (`seimlip train config.yaml`): typed, strict, one error per bad key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlip.config import StrictModel, dump_config, load_config, read_yaml, validate
from mlip.data.keys import LabelKeys
from mlip.data.species import DEFAULT_SPECIES
from mlip.errors import UserError
from mlip.model import ModelConfig

PRESETS_DIR = Path(__file__).resolve().parent.parent / "configs"


class DataConfig(LabelKeys):
    """Either ``train`` (+ ``val``, optional ``test``) or one ``path`` split by ``split``; labels
    under ``energy_key``/``forces_key``/``stress_key`` (default: plain keys, else MACE's ``REF_*``)."""

    train: str | None = None
    val: str | None = None
    test: str | None = None
    path: str | None = None
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int | None = Field(None, description="seed of the random split; the run's seed when unset")
    species: list[str] = Field(default_factory=lambda: list(DEFAULT_SPECIES))
    reference_energies: Literal["least_squares", "isolated"] | dict[str, float] = "least_squares"
    isolated_energies: dict[str, float] | None = None
    scale: Literal["force_rms", "energy_std"] | float = "force_rms"

    @field_validator("split")
    @classmethod
    def _split(cls, v):
        if any(f < 0 for f in v) or abs(sum(v) - 1.0) > 1e-6 or v[0] <= 0:
            raise ValueError("three fractions (train, val, test), each >= 0, train > 0, summing to 1")
        return v

    @field_validator("species")
    @classmethod
    def _species(cls, v):
        from ase.data import atomic_numbers

        bad = [s for s in v if s not in atomic_numbers]
        if bad or not v or len(set(v)) != len(v):
            raise ValueError(f"a non-empty list of distinct element symbols (bad: {bad or v})")
        return v

    @model_validator(mode="after")
    def _sources(self):
        if (self.train is None) == (self.path is None):
            raise ValueError("give either data.train (with data.val) or data.path (split by data.split)")
        if self.train is not None and self.val is None:
            raise ValueError("data.val is required with data.train (validation drives checkpoints and stopping)")
        if self.reference_energies == "isolated" and not self.isolated_energies:
            raise ValueError("reference_energies: isolated needs data.isolated_energies {element: eV}")
        return self


class LossWeights(StrictModel):
    energy: float = Field(1.0, ge=0, description="weight of the per-atom energy MSE, (eV/atom)^2")
    forces: float = Field(10.0, ge=0, description="weight of the force-component MSE, (eV/Å)^2")
    stress: float = Field(1.0, ge=0, description="weight of the stress MSE, (eV/Å^3)^2")
    head_nll: float = Field(0.0, ge=0, description="weight of the shallow-ensemble Gaussian NLL of the "
                            "frame's energy per atom (model.readout_heads > 1 only)")
    head_force_nll: float = Field(1.0, ge=0, description="weight of the Gaussian NLL of each atom's force "
                                  "error with the heads' per-atom energy spread as its std (readout_heads > 1)")


class LateStage(StrictModel):
    """MACE's SWA-like second stage: from ``start_fraction`` of the budget, weight energy more."""

    enabled: bool = True
    start_fraction: float = Field(0.75, gt=0, le=1)
    weights: LossWeights = Field(default_factory=lambda: LossWeights(energy=100.0, forces=10.0, stress=1.0))
    lr_factor: float | None = Field(None, gt=0, description="multiply the learning rate once when the stage starts")


class LossConfig(StrictModel):
    kind: Literal["mse", "huber"] = "mse"
    huber_delta: float = Field(0.01, gt=0)
    weights: LossWeights = Field(default_factory=LossWeights)
    late_stage: LateStage = Field(default_factory=LateStage)


class OptimizerConfig(StrictModel):
    lr: float = Field(5e-3, gt=0)
    weight_decay: float = Field(5e-7, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    amsgrad: bool = True


class SchedulerConfig(StrictModel):
    kind: Literal["plateau", "cosine", "constant"] = "plateau"
    warmup_epochs: float = Field(0.0, ge=0)
    factor: float = Field(0.8, gt=0, lt=1, description="plateau: multiply the lr by this")
    patience: int = Field(5, ge=0, description="plateau: epochs without improvement before reducing")
    min_lr: float = Field(1e-6, ge=0)


class WandbConfig(StrictModel):
    enabled: bool = True
    mode: Literal["offline", "online", "disabled"] = "offline"
    project: str = "seimlip"
    entity: str | None = None
    name: str | None = None
    tags: list[str] = Field(default_factory=list)


class TrainConfig(StrictModel):
    data: DataConfig
    model: ModelConfig = Field(default_factory=lambda: {"preset": "small"}, validate_default=True,
                               description="{preset: small|medium, **overrides} or a full ModelConfig")
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    clip_grad_norm: float | None = Field(10.0, gt=0)
    ema_decay: float | None = Field(0.99, ge=0, lt=1)
    batch_size: int = Field(4, ge=1, description="global batch size (split over DDP ranks)")
    eval_batch_size: int = Field(16, ge=1)
    max_epochs: int = Field(100, ge=1)
    max_time_minutes: float | None = Field(None, gt=0, description="wall-clock budget of the whole run")
    patience: int | None = Field(30, ge=1, description="early stopping: epochs without a better validation loss")
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["float32", "float64"] | None = Field(None, description="overrides model.dtype")
    out_dir: str = "runs/train"
    init_from: str | None = Field(None, description="checkpoint, deployed model or shipped name to fine-tune")
    wandb: WandbConfig = Field(default_factory=WandbConfig)

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, v):
        return v if isinstance(v, ModelConfig) else resolve_model_config(v)  # a preset and its overrides

    @model_validator(mode="after")
    def _dtype(self):
        if self.dtype is not None and self.model.dtype != self.dtype:
            self.model = self.model.model_copy(update={"dtype": self.dtype})
        return self

    def model_config_obj(self) -> ModelConfig:
        return self.model


def resolve_model_config(spec: dict[str, Any] | ModelConfig) -> ModelConfig:
    """``{"preset": "small", **overrides}`` or a full ModelConfig mapping -> ModelConfig."""
    from pydantic import ValidationError

    if isinstance(spec, ModelConfig):
        return spec
    spec = dict(spec or {})
    preset = spec.pop("preset", None)
    try:
        return ModelConfig.preset(preset, **spec) if preset else ModelConfig(**spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    except UserError as exc:
        raise ValueError(str(exc)) from None


def load_train_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A YAML file or a preset's name (``mlip/configs/<name>.yaml``) -> TrainConfig.

    ``overrides`` are dotted keys (``{"optimizer.lr": 1e-3}``) applied on top of the file.
    """
    if path is not None and not Path(path).exists() and (PRESETS_DIR / f"{path}.yaml").is_file():
        path = PRESETS_DIR / f"{path}.yaml"
    if not overrides:
        return load_config(TrainConfig, path)
    data = read_yaml(path) if path is not None else {}
    for key, value in overrides.items():
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise UserError(f"cannot override {key}: {p} is not a mapping", str(path))
        node[leaf] = value
    return validate(TrainConfig, data, str(path) if path else "config")


__all__ = ["TrainConfig", "load_train_config", "dump_config", "resolve_model_config"]
