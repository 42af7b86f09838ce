"""The commands of ``md_runs``: ``md run``, ``analyze`` and ``export pybamm`` (:data:`app`).

The same shape as :mod:`mlip.cli`: one module per command or group, whose body reads its config
object and calls the library; the ``seimlip`` root (``active_learning.cli``) joins this app.
"""

from __future__ import annotations

import typer

from md_runs.cli.analyze import analyze
from md_runs.cli.export import export_app
from md_runs.cli.md import md_app

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(md_app, name="md", help="Run MD protocols (SEI formation, Li transport).")
app.command("analyze")(analyze)
app.add_typer(export_app, name="export",
              help="Export MD-predicted SEI properties (PyBaMM JSON, BPX) and check them in PyBaMM.")

__all__ = ["app"]
