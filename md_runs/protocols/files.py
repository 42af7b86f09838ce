"""Resume-safe file handling: trajectories cut back to a checkpoint's step, thermo.csv, restarts.

A killed run leaves frames (and perhaps half a frame) written after its last checkpoint. Before
continuing, :func:`truncate_dump` / :func:`truncate_extxyz` cut the trajectory back to the frames
at or before the checkpoint step, so the resumed trajectory is one duplicate-free sequence.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from md_runs.trajectory import THERMO_COLUMNS
from mlip.utils import write_text_atomic

_BLOCK = 1 << 20
_DUMP_MARK = b"ITEM: TIMESTEP\n"
RESTART_RE = re.compile(r"^step_(\d+)\.(restart|extxyz)$")
#: thermo.csv columns beyond the contract's: MD step, conserved energy, closest pair distance
EXTRA_COLUMNS = ("step", "conserved_eV", "min_distance_A")


def truncate_dump(path: str | os.PathLike, last_step: int) -> int:
    """Cut a LAMMPS text dump after its last frame with timestep <= ``last_step``.

    Scans backwards from the end (cheap for long trajectories). Returns the number of frames
    (or partial frames) removed.
    """
    path = Path(path)
    if not path.exists():
        return 0
    removed = 0
    with path.open("r+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        while end > 0:
            start = _last_mark_before(fh, end)
            if start is None:  # no frame header at all: garbage, drop it
                fh.truncate(0)
                return removed + 1
            fh.seek(start + len(_DUMP_MARK))
            line = fh.readline().strip()
            try:
                step = int(line)
            except ValueError:
                step = None
            if step is not None and step <= last_step:
                break
            fh.truncate(start)
            removed += 1
            end = start
    return removed


def _last_mark_before(fh, end: int) -> int | None:
    """Offset of the last complete ``ITEM: TIMESTEP`` line that starts before ``end``."""
    pos = end
    while pos > 0:
        lo = max(0, pos - _BLOCK)
        fh.seek(lo)
        block = fh.read(min(end, pos + len(_DUMP_MARK) - 1) - lo)  # marks starting in [lo, pos)
        k = block.rfind(_DUMP_MARK)
        if k >= 0:
            return lo + k
        pos = lo
    return None


def truncate_extxyz(path: str | os.PathLike, last_step: int) -> int:
    """Cut an extxyz trajectory (frames with ``step=`` in their comment line) after the last frame
    with step <= ``last_step``; a half-written last frame goes too. Returns the frames removed."""
    path = Path(path)
    if not path.exists():
        return 0
    keep = 0  # byte offset just after the last frame kept
    with path.open("rb") as fh:
        while True:
            header = fh.readline()
            if not header:
                break
            try:
                n = int(header.strip())
            except ValueError:
                break
            m = re.search(rb"\bstep=(\d+)", fh.readline())
            lines = [fh.readline() for _ in range(n)]
            complete = all(line.endswith(b"\n") for line in lines)
            if not complete or m is None or int(m.group(1)) > last_step:
                break
            keep = fh.tell()
        fh.seek(keep)
        removed = max(fh.read().count(b"step="), 1) if keep < path.stat().st_size else 0
    if removed:
        with path.open("r+b") as fh:
            fh.truncate(keep)
    return removed


def restart_files(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of the complete checkpoints ``step_<N>.restart|extxyz`` in ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = RESTART_RE.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def readable_restarts(folder: str | os.PathLike, readable: Callable[[Path], bool]) -> list[tuple[int, Path]]:
    """:func:`restart_files` of ``folder`` without a newest checkpoint that ``readable`` rejects
    (truncated, corrupt): each such file is renamed ``*.corrupt`` (kept for a look) with a warning,
    so a resume continues from the checkpoint before it."""
    done = restart_files(folder)
    while done and not readable(done[-1][1]):
        _, bad = done.pop()
        os.replace(bad, bad.with_name(bad.name + ".corrupt"))
        then = f"the checkpoint of step {done[-1][0]}" if done else "the start of the stage"
        from rich.console import Console

        Console(stderr=True).print(f"warning: {bad} is unreadable (renamed {bad.name}.corrupt); resuming from {then}",
                                   markup=False, highlight=False, soft_wrap=True)
    return done


def restart_name(step: int, suffix: str) -> str:
    return f"step_{step:012d}.{suffix}"


def prune_restarts(folder: str | os.PathLike, keep: int = 2) -> None:
    for _, p in restart_files(folder)[:-keep]:
        p.unlink(missing_ok=True)
        p.with_suffix(".json").unlink(missing_ok=True)  # the ASE engine's random-state sidecar


def write_thermo_csv(path: str | os.PathLike, rows: dict[str, np.ndarray],
                     extra: Sequence[str] = ()) -> None:
    """thermo.csv with the contract's columns (then ``extra``), atomically; floats in full precision."""
    columns = list(THERMO_COLUMNS) + [c for c in extra if c in rows]
    n = len(rows["time_ps"]) if rows else 0
    lines = [",".join(columns)]
    for k in range(n):
        lines.append(",".join(repr(float(rows[c][k])) if c != "step" else str(int(rows[c][k])) for c in columns))
    write_text_atomic(path, "\n".join(lines) + "\n")
