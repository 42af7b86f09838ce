"""The ``seimlip`` command line: one typer app joining the commands of every package.

It lives in ``active_learning`` because that package is the one allowed to import the others
(DESIGN.md: data flows one way, no import cycles).
"""

from __future__ import annotations

import errno
import sys

import click
import typer
from rich.console import Console
from rich.text import Text

from mlip.errors import UserError

try:  # typer >= 0.26 bundles its own click: its usage errors are not click.ClickException
    from typer._click import exceptions as _bundled_click

    _CLICKS = (click.exceptions, _bundled_click)
except ImportError:  # pragma: no cover - older typer uses click itself
    _CLICKS = (click.exceptions,)
USAGE_ERRORS = tuple(m.ClickException for m in _CLICKS)
NO_ARGS_HELP = tuple(m.NoArgsIsHelpError for m in _CLICKS if hasattr(m, "NoArgsIsHelpError"))
#: OSErrors that say something about the user's paths or disk, shown as one line naming the path
PATH_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
               errno.ENOSPC, errno.EDQUOT, errno.ENAMETOOLONG}

app = typer.Typer(
    name="seimlip",
    help="Equivariant ML potentials and active learning for battery SEI interfaces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"seimlip {version('seimlip')}")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree not installed
            typer.echo("seimlip (not installed)")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="Show the seimlip version and exit.")) -> None:
    """Equivariant ML potentials and active learning for battery SEI interfaces."""


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
    from active_learning.cli.validate import validate

    app.command("validate")(validate)
    from active_learning.cli.al import al_app

    app.add_typer(al_app, name="al", help="Active-learning campaigns: init, run, submit, status, resume.")


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: user errors become one line and exit code 2."""
    try:
        code = app(args=argv, prog_name="seimlip", standalone_mode=False)
    except UserError as exc:
        _error(str(exc))
    except NO_ARGS_HELP:  # `seimlip data` alone: the help has been printed
        sys.exit(2)
    except USAGE_ERRORS as exc:  # usage errors: unknown option, missing or extra argument
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "seimlip"
        _error(f"{where}: {exc.format_message()} (see {where} --help)")
    except OSError as exc:  # a path we cannot write (read-only, under a file, disk full) slipped past the checks
        if exc.errno not in PATH_ERRNOS or not (exc.filename2 or exc.filename):
            raise
        _error(f"{exc.filename2 or exc.filename}: {exc.strerror}")
    except (*(m.Abort for m in _CLICKS), typer.Abort):
        err_console.print("interrupted")
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)


def _error(message: str) -> None:
    """Print ``message`` as one line on stderr and exit 2 (the code of every user error)."""
    err_console.print(Text("error: ", style="bold red") + Text(" ".join(message.split())), highlight=False,
                      soft_wrap=True)
    sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
