"""Reference oracles: label a frame with energy/forces/stress, or record why not.

``make_oracle(config)`` gives an ``Oracle`` whose ``label(atoms)`` never raises. GFN1-xTB
(tblite) is the default; CP2K runs for real where Debian's ``cp2k`` is installed; VASP,
Quantum ESPRESSO and GPAW are ASE calculator configurations for clusters.
"""

from active_learning.oracles.base import CalculatorOracle, LabelResult, Oracle, OracleFailure
from active_learning.oracles.config import (
    CP2KConfig,
    EspressoConfig,
    GPAWConfig,
    OracleConfig,
    TBLiteConfig,
    VaspConfig,
    fingerprint,
    make_oracle,
    parse_oracle_config,
)

__all__ = [
    "CalculatorOracle",
    "CP2KConfig",
    "EspressoConfig",
    "GPAWConfig",
    "LabelResult",
    "Oracle",
    "OracleConfig",
    "OracleFailure",
    "TBLiteConfig",
    "VaspConfig",
    "fingerprint",
    "make_oracle",
    "parse_oracle_config",
]
