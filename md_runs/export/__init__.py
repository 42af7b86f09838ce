"""Export MD-predicted SEI properties to PyBaMM (JSON on a base set, BPX) and check them in PyBaMM."""

from md_runs.export.check import check_pybamm
from md_runs.export.config import CheckConfig, ExportConfig
from md_runs.export.pybamm_json import build_export, export_pybamm, load_parameter_values, read_export

__all__ = ["CheckConfig", "ExportConfig", "build_export", "check_pybamm", "export_pybamm",
           "load_parameter_values", "read_export"]
