"""``seimlip data build|label``: draw configurations from the builders and label them with an oracle.

They need ``md_runs``' builders and the oracles, so they live here; ``data stats|split`` (only
:mod:`mlip.data`) are :mod:`mlip.cli.data`, merged into the same ``seimlip data`` group by the root.
"""

from __future__ import annotations

import typer

from active_learning.cli.build import build
from active_learning.cli.label import label

data_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
data_app.command("build")(build)
data_app.command("label")(label)
