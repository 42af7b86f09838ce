"""Habits users bring from MACE, NequIP, DeePMD, DP-GEN and LAMMPS (issue #18)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def clean_env(**extra: str) -> dict[str, str]:
    """A fresh login-like environment: no LD_LIBRARY_PATH, no activated venv, no LAMMPS paths."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "OMP_NUM_THREADS": "1"}
    for key in ("SEIMLIP_CACHE_DIR", "XDG_CACHE_HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env


PLAIN_LAMMPS = ("import lammps\n"
                "lmp = lammps.lammps(cmdargs=['-nocite', '-log', 'none', '-screen', 'none'])\n"
                "print('VERSION', lmp.version())\n"
                "print('HAS', lmp.has_style('pair', 'seimlip'))\n")


def test_plain_import_lammps_works_without_ld_library_path():
    """``import lammps; lammps.lammps()`` in a fresh interpreter: the entry point preloads the
    mpich wheel's libmpi.so.12 (it failed with ``OSError: libmpi.so.12``)."""
    out = subprocess.run([sys.executable, "-c", PLAIN_LAMMPS], env=clean_env(SEIMLIP_LAMMPS_AUTOLOAD="0"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "VERSION" in out.stdout and "HAS False" in out.stdout


def test_plain_import_lammps_autoloads_the_plugin():
    from mlip.deploy import lammps_plugin_path

    lammps_plugin_path()  # built once (cached); the fresh interpreter below must find it alone
    out = subprocess.run([sys.executable, "-c", PLAIN_LAMMPS], env=clean_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HAS True" in out.stdout, out.stdout + out.stderr[-2000:]


def test_entry_point_preloads_mpi_even_with_autoload_off():
    code = ("from mlip.deploy.plugin import lammps_plugin_dir\nlammps_plugin_dir()\n"
            "import ctypes\nctypes.CDLL('libmpi.so.12')\nprint('MPI OK')\n")
    out = subprocess.run([sys.executable, "-c", code], env=clean_env(SEIMLIP_LAMMPS_AUTOLOAD="0"),
                         capture_output=True, text=True, timeout=60)
    assert "MPI OK" in out.stdout, out.stderr[-2000:]
