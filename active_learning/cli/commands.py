"""The commands of ``active_learning``: ``quickstart``, ``validate``, ``al ...`` (:data:`app`) and
``data build|label`` (:data:`data_app`).

The same shape as :mod:`mlip.cli` and :mod:`md_runs.cli`; the ``seimlip`` root
(:mod:`active_learning.cli`) joins the three packages' apps.
"""

from __future__ import annotations

import typer

from active_learning.cli.al import al_app
from active_learning.cli.data import data_app
from active_learning.cli.quickstart import quickstart
from active_learning.cli.validate import validate

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
app.command("quickstart")(quickstart)
app.command("validate")(validate)
app.add_typer(al_app, name="al", help="Active-learning campaigns: init, run, submit, status, resume.")

__all__ = ["app", "data_app"]
