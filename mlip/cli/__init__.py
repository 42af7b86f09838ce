"""The commands of ``mlip``: ``train``, ``eval``, ``deploy`` (:data:`app`) and ``data stats|split``
(:data:`data_app`).

Each package's ``cli/`` has this shape: one module per command (or command group) whose body
reads its config object and calls the library, and an ``__init__`` with the package's typer apps.
The ``seimlip`` root (``active_learning.cli``) only joins the three packages' apps (data flows one
way); user errors are raised as ``UserError`` and printed by the root as one line.
"""

from __future__ import annotations

import typer

from mlip.cli.data import data_app
from mlip.cli.deploy import deploy
from mlip.cli.eval import evaluate
from mlip.cli.train import train

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
app.command("train")(train)
app.command("eval")(evaluate)
app.command("deploy")(deploy)

__all__ = ["app", "data_app", "deploy", "evaluate", "train"]
