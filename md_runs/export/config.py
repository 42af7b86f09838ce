"""The ``--config`` YAML of ``seimlip export pybamm``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlip.config import StrictModel

SeiOption = Literal["interstitial-diffusion limited", "solvent-diffusion limited", "ec reaction limited"]


class CheckConfig(StrictModel):
    """The PyBaMM run of ``--check``: model, experiment and how uncertainty is propagated."""

    model: Literal["SPM", "DFN"] = "SPM"
    cycle: list[str] | None = None   # steps of one cycle; None: 1C discharge/charge between the
                                     # base set's voltage cut-offs, then a C/20 hold
    cycles: int = Field(3, ge=1)
    samples: int = Field(0, ge=0)    # 0: mean and +-1 sigma of each uncertain parameter; N: N draws
    seed: int = 0


class ExportConfig(StrictModel):
    base: str = "OKane2022"                      # PyBaMM parameter set the export sits on
    reference_temperature_K: float | None = None  # None: the base set's "Reference temperature [K]"
    sei_phase: str | None = None                  # which SEI phase when the analyses cover several
    sei_option: SeiOption | None = None           # None: from what was exported (Li interstitial first)
    check: CheckConfig = CheckConfig()
