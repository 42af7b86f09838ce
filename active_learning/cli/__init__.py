"""The ``seimlip`` command line: one typer app joining the commands of every package.

It lives in ``active_learning`` because that package is the one allowed to import the others
(DESIGN.md: data flows one way, no import cycles).
"""

from __future__ import annotations

import sys

import click
import typer
from rich.console import Console

from mlip.errors import UserError

app = typer.Typer(
    name="seimlip",
    help="Equivariant ML potentials and active learning for battery SEI interfaces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


def _register() -> None:
    from active_learning.cli.data import data_app
    from active_learning.cli.quickstart import quickstart
    from mlip.cli import evaluate, train
    from mlip.deploy.cli import deploy

    app.command("quickstart")(quickstart)
    app.add_typer(data_app, name="data", help="Build, label, inspect and split reference data.")
    app.command("train")(train)
    app.command("eval")(evaluate)
    app.command("deploy")(deploy)
    from md_runs.cli_md import md_app; app.add_typer(md_app, name="md", help="Run MD protocols (SEI formation, Li transport).")  # noqa: E702
    from md_runs.cli_export import export_app
    app.add_typer(export_app, name="export", help="Export MD-predicted SEI properties (PyBaMM JSON, BPX) and check them in PyBaMM.")
    from md_runs.cli import analyze
    app.command("analyze")(analyze)
    from active_learning.cli.al import al_app

    app.add_typer(al_app, name="al", help="Active-learning campaigns: init, run, submit, status, resume.")


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: user errors become one line and exit code 2."""
    try:
        code = app(args=argv, prog_name="seimlip", standalone_mode=False)
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True, markup=True)
        sys.exit(2)
    except click.ClickException as exc:  # usage errors: unknown option, missing argument
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("interrupted")
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
