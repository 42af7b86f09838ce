"""The run folder of a pipeline: :class:`Pipeline` runs each step once and keeps its record
(``steps/<step>.json``, paths below the folder written ``./relative`` so a moved folder resumes)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rich.console import Console
from rich.rule import Rule

from mlip.utils import read_json_document, write_json_atomic

if TYPE_CHECKING:
    from active_learning.pipeline.config import QuickstartConfig

console = Console()


class Pipeline:
    """Steps over one run folder; ``records`` holds what each finished step reported."""

    def __init__(self, cfg: QuickstartConfig, out: Path):
        self.cfg, self.out = cfg, out
        self.records: dict[str, dict] = {}

    def record_path(self, step: str) -> Path:
        return self.out / "steps" / f"{step}.json"

    def portable(self, value: Any) -> Any:
        """``value`` (a record) with every path below the run folder written ``./relative``."""
        base = str(self.out.resolve()).rstrip(os.sep) + os.sep
        return _map_strings(value, lambda s: "./" + s[len(base):] if s.startswith(base) else s)

    def located(self, value: Any) -> Any:
        """A record read back: its ``./relative`` paths below this run folder, wherever it is now."""
        return _map_strings(value, lambda s: str(self.out / s[2:]) if s.startswith("./") else s)

    def step(self, index: int, total: int, step: str, title: str, run: Callable[[], dict]) -> dict:
        console.print(Rule(f"{index}/{total} {title}"))
        path = self.record_path(step)
        if path.is_file():
            record = self.located(read_json_document(path, "quickstart step record"))
            console.print(f"[green]done already[/] ({record.get('seconds', 0):.0f} s in an earlier run)")
        else:
            start = time.perf_counter()
            record = run() or {}
            record["seconds"] = time.perf_counter() - start
            write_json_atomic(path, self.portable(record), default=str)
            console.print(f"[green]finished[/] in {record['seconds']:.0f} s")
        self.records[step] = record
        return record


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    return value
