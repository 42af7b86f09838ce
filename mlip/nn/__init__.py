"""Equivariant neural-network layers of the seimlip potential (torch + e3nn), TorchScript-able."""

from mlip.nn.blocks import Interaction, InteractionBlock, ProductBasis
from mlip.nn.equivariant import EquivariantLinear, SpeciesLinear, SphericalHarmonics
from mlip.nn.radial import BesselBasis, PolynomialEnvelope, RadialMLP
from mlip.nn.zbl import ZBLRepulsion

__all__ = [
    "BesselBasis",
    "EquivariantLinear",
    "Interaction",
    "InteractionBlock",
    "PolynomialEnvelope",
    "ProductBasis",
    "RadialMLP",
    "SpeciesLinear",
    "SphericalHarmonics",
    "ZBLRepulsion",
]
