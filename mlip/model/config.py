"""Hyper-parameters of the potential, with named presets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mlip.config import StrictModel, validate
from mlip.errors import UserError

PRESETS: dict[str, dict[str, Any]] = {
    # Fast: the default for MD on CPUs (see the model card / benchmarks for speed and accuracy).
    "small": dict(channels=32, l_max=1, sh_lmax=2, n_interactions=2, correlation=3, radial_hidden=32),
    # More capacity for large, diverse training sets (GPU training).
    "medium": dict(channels=64, l_max=1, sh_lmax=3, n_interactions=2, correlation=3),
}


class ModelConfig(StrictModel):
    """Architecture of the potential (see mlip.nn.blocks for what each part does)."""

    cutoff: float = Field(5.0, gt=0, description="neighbour cutoff radius (Å)")
    channels: int = Field(32, ge=1, le=1024, description="feature channels per irrep")
    l_max: int = Field(1, ge=0, le=3, description="highest degree of the features passed between layers")
    sh_lmax: int = Field(2, ge=1, le=4, description="highest degree of the edge spherical harmonics / messages")
    n_interactions: int = Field(2, ge=1, le=6, description="message-passing layers")
    correlation: int = Field(3, ge=1, le=3, description="body order of the product basis per layer")
    n_radial: int = Field(8, ge=1, le=64, description="Bessel radial basis size")
    radial_rank: int = Field(8, ge=1, le=256, description="learned radial functions mixed per channel and path")
    radial_hidden: int = Field(64, ge=1, le=1024, description="width of the radial MLP")
    radial_layers: int = Field(2, ge=1, le=6, description="hidden layers of the radial MLP")
    envelope_p: int = Field(6, ge=2, le=12, description="exponent of the polynomial cutoff envelope")
    readout_hidden: int = Field(16, ge=0, le=1024, description="hidden width of the last layer's energy readout")
    readout_heads: int = Field(1, ge=1, le=64, description="energy heads of the last readout (>1: shallow "
                               "ensemble; energy = their mean, their spread = uncertainty)")
    avg_num_neighbors: float = Field(40.0, gt=0, description="message normalisation (typical neighbour count)")
    zbl: bool = Field(False, description="add ZBL screened-Coulomb repulsion at close contact")
    zbl_inner: float = Field(0.6, ge=0, description="ZBL fully on below this fraction of the covalent-radius sum")
    zbl_outer: float = Field(1.0, gt=0, description="ZBL off above this fraction of the covalent-radius sum")
    dtype: Literal["float32", "float64"] = "float32"

    @model_validator(mode="after")
    def _check(self) -> "ModelConfig":
        if self.l_max > self.sh_lmax:
            raise ValueError(f"l_max ({self.l_max}) must not exceed sh_lmax ({self.sh_lmax})")
        if self.zbl_inner >= self.zbl_outer:
            raise ValueError("zbl_inner must be below zbl_outer")
        return self

    @classmethod
    def preset(cls, name: str = "small", **overrides: Any) -> "ModelConfig":
        """A named preset (``small``, ``medium``) with ``overrides`` applied; UserError otherwise."""
        if name not in PRESETS:
            raise UserError(f"unknown model preset {name!r} (choose from {', '.join(PRESETS)})")
        return validate(cls, {**PRESETS[name], **overrides}, f"model preset {name!r}")

    @property
    def torch_dtype(self):
        import torch

        return torch.float64 if self.dtype == "float64" else torch.float32
