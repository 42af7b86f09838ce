"""GFN1-xTB (default) through tblite's ASE calculator, fully periodic.

The calculator is exactly ``TBLite(method=...)`` with tblite's defaults; only the fields the
user set in the config (accuracy, electronic_temperature, max_iterations) are passed on, plus
``verbosity=0``, which silences tblite's printout and changes no number. The total charge and
spin come, as tblite does by default, from the frame's initial charges and magnetic moments.
tblite raises when the SCF does not converge: that becomes ``scf_not_converged: ...``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ase import Atoms

from active_learning.oracles.base import CalculatorOracle, OracleFailure
from active_learning.oracles.config import TBLiteConfig


class TBLiteOracle(CalculatorOracle):
    def __init__(self, config: TBLiteConfig | None = None):
        self.config = config or TBLiteConfig()
        self.name = f"tblite/{self.config.method}"

    def calculator_kwargs(self) -> dict:
        kwargs = {"method": self.config.method, "verbosity": 0}
        for key in ("accuracy", "electronic_temperature", "max_iterations"):
            value = getattr(self.config, key)
            if value is not None:
                kwargs[key] = value
        return kwargs

    def preflight(self) -> None:
        try:
            import tblite.ase  # noqa: F401
        except ImportError as exc:  # pragma: no cover - tblite is a hard dependency
            raise OracleFailure(f"not_installed: tblite ({exc})") from None

    @contextmanager
    def calculator(self, frame: Atoms) -> Iterator:
        from tblite.ase import TBLite

        yield TBLite(**self.calculator_kwargs())
