"""``python -m mlip.train CONFIG [options]`` (same options as ``seimlip train``), e.g. under torchrun:

    torchrun --nproc-per-node 4 -m mlip.train config.yaml
"""

import sys

import typer

from mlip.cli.train import train
from mlip.errors import UserError

if __name__ == "__main__":
    try:
        typer.run(train)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
