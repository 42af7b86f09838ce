"""Settings and fixtures every test file shares (helpers that are not fixtures: ``helpers.py``)."""

import os

import pytest

# Two cores are shared by everything in CI: keep each test process single-threaded unless a
# test asks otherwise, and keep wandb strictly offline.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def plugin():
    """The LAMMPS plugin's path; built on first use (~1-2 min), cached afterwards."""
    from mlip.deploy import lammps_plugin_path

    return lammps_plugin_path()
