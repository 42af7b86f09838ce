"""The seimlip potential: configuration, network, and energy/forces/stress evaluation."""

from mlip.model.config import PRESETS, ModelConfig
from mlip.model.output import ForceStressOutput, energy_forces_stress
from mlip.model.potential import FORMAT_VERSION, Potential, build_model

__all__ = ["FORMAT_VERSION", "PRESETS", "ModelConfig", "Potential", "build_model", "energy_forces_stress", "ForceStressOutput"]
