"""Console output of long work: the stderr console and one progress bar for every loop (training
epochs, campaign phases, ``data build``, ``data label``)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

#: messages and progress go to stderr, so a command's stdout stays its result
console = Console(stderr=True)


def progress_bar(enabled: bool = True, *fields: str, transient: bool = False) -> Progress:
    """description | bar | done/total | one column per task field template in ``fields`` (e.g.
    ``"{task.fields[info]}"``) | elapsed | remaining, on stderr; ``enabled=False`` shows nothing."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        *(TextColumn(f) for f in fields), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=transient, disable=not enabled,
    )
