"""Typer options shared by the commands that read labelled frames (``seimlip eval``, ``train``,
``data stats``, ``data split``, ``al init``): ``--energy-key``, ``--forces-key``, ``--stress-key``,
``--virials-key`` as in MACE.
Their values go through :func:`mlip.data.keys.key_overrides` into the command's config."""

from __future__ import annotations

import typer

EnergyKeyOpt = typer.Option(None, "--energy-key", help="info key of the reference energy "
                            "(default: energy, else REF_energy)")
ForcesKeyOpt = typer.Option(None, "--forces-key", help="arrays key of the reference forces "
                            "(default: forces, else REF_forces)")
StressKeyOpt = typer.Option(None, "--stress-key", help="info key of the reference stress "
                            "(default: stress, else REF_stress, else a virial)")
VirialsKeyOpt = typer.Option(None, "--virials-key", help="info key of a reference virial, read as "
                             "stress = -virial / volume (default: virial, virials, REF_virial, REF_virials)")
