"""The ``seimlip`` command line: the root app, which only joins the three packages' apps.

``mlip.cli`` (train, eval, deploy, data stats|split), ``md_runs.cli`` (md run, analyze, export
pybamm) and ``active_learning.cli.commands`` (quickstart, validate, al ..., data build|label) each
give a typer ``app`` (and a ``data_app``, merged into one ``seimlip data`` group). The root lives
in ``active_learning`` because that package is the one allowed to import the others (DESIGN.md:
data flows one way, no import cycles); it adds ``--version`` and turns user errors into one line
and exit status 2.
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
#: Ctrl-C at a prompt; the bundled click has no Abort of its own (typer.Abort is the one it raises)
ABORTS = (typer.Abort, *(m.Abort for m in _CLICKS if hasattr(m, "Abort")))
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


def _assemble() -> None:
    from active_learning.cli.commands import app as active_learning_app, data_app as active_learning_data
    from md_runs.cli import app as md_runs_app
    from mlip.cli import app as mlip_app, data_app as mlip_data

    data_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    for package_data in (mlip_data, active_learning_data):
        data_app.add_typer(package_data)
    app.add_typer(data_app, name="data", help="Build, label, inspect and split reference data.")
    for package_app in (mlip_app, md_runs_app, active_learning_app):
        app.add_typer(package_app)


_assemble()


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
    except ABORTS:
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
