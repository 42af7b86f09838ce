"""The ``--config`` YAML of ``seimlip deploy``: which checkpoints, where, in which dtype and format."""

from __future__ import annotations

from pathlib import Path
from typing import List, Literal, Optional

from mlip.config import StrictModel


class DeployConfig(StrictModel):
    """What ``seimlip deploy`` does; any field can come from ``--config`` or the command line."""

    checkpoints: List[Path] = []
    output: Optional[Path] = None
    dtype: Optional[str] = None
    format: Literal["torchscript", "export"] = "torchscript"
