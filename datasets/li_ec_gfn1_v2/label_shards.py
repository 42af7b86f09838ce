"""Label li_ec_gfn1_v2 shard by shard, so every finished shard can be committed at once.

    python datasets/li_ec_gfn1_v2/label_shards.py            # build (once), then label every pending shard
    python datasets/li_ec_gfn1_v2/label_shards.py --status   # what is done, what remains

The frames come from ``plan.yaml`` (``seimlip data build``, seeded: the same frames every time),
in plan order, cut into shards of at most ``--max-atoms`` atoms / ``--max-frames`` frames. Each
shard is labelled with ``label.yaml`` (GFN1-xTB at 3000 K, cell rules ``gfn1-xtb-3000K``) into
``_work/`` (resume store there: a stopped shard resumes where it was) and, when complete, moved
to ``shards/shard_NNN.extxyz.gz`` with its failures report: a shard in ``shards/`` is final and is
never labelled again. ``timing.json`` keeps the oracle time spent per shard (the data card's
compute time). Stop it any way; run it again to continue.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
SHARDS = HERE / "shards"
FRAMES = WORK / "frames.extxyz"


def _shards(frames, max_atoms: int, max_frames: int) -> list[list[int]]:
    """Consecutive index ranges in plan order, one config_type per shard."""
    out: list[list[int]] = []
    cur: list[int] = []
    atoms = 0
    for i, a in enumerate(frames):
        same = not cur or frames[cur[0]].info.get("config_type") == a.info.get("config_type")
        if cur and (not same or atoms + len(a) > max_atoms or len(cur) >= max_frames):
            out.append(cur)
            cur, atoms = [], 0
        cur.append(i)
        atoms += len(a)
    if cur:
        out.append(cur)
    return out


def _timing() -> dict:
    path = HERE / "timing.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _plan_changed() -> bool:
    """Whether plan.yaml differs from the plan ``seimlip data build`` recorded beside FRAMES."""
    from active_learning.reference_data.build import BuildConfig
    from mlip.config import load_config, read_yaml

    built = FRAMES.with_name(FRAMES.name.split(".")[0] + ".plan.yaml")
    if not built.exists():
        return True
    return load_config(BuildConfig, HERE / "plan.yaml").model_dump() != BuildConfig(**read_yaml(built)).model_dump()


def _stale(final: Path, planned: list) -> str | None:
    """Why a finished shard does not hold the plan's frames, or None. The labeller may tile a frame
    up to its family's converged size, so a labelled frame has a whole multiple of a planned size."""
    from mlip.data.readers import read_frames

    have = sorted(len(a) for a in read_frames(final))
    want = sorted(len(a) for a in planned)
    if len(have) == len(want) and all(any(h % w == 0 for w in want) for h in have):
        return None
    return (f"holds {len(have)} frames of {sorted(set(have))} atoms, the plan {len(want)} of {sorted(set(want))}: "
            f"labelled from an older plan; move it to shards/superseded/ to relabel")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-atoms", type=int, default=5000)
    p.add_argument("--max-frames", type=int, default=40)
    p.add_argument("--status", action="store_true")
    p.add_argument("--only", type=int, nargs="*", help="shard numbers to label")
    args = p.parse_args(argv)

    from active_learning.reference_data.label import LabelConfig, label_with_config
    from active_learning.oracles.cell_rules import load_cell_rules
    from mlip.config import load_config
    from mlip.data.readers import read_frames, write_frames
    from mlip.utils import write_text_atomic

    if FRAMES.exists() and _plan_changed():
        print(f"plan.yaml changed since {FRAMES.name} was built: rebuilding it (seeded, so the frames of "
              "unchanged systems are the same)", flush=True)
        FRAMES.unlink()
    if not FRAMES.exists():
        import subprocess

        WORK.mkdir(exist_ok=True)
        seimlip = shutil.which("seimlip") or str(Path(sys.executable).with_name("seimlip"))
        subprocess.run([seimlip, "data", "build", "-c", str(HERE / "plan.yaml"), "-o", str(FRAMES)], check=True)
    frames = read_frames(FRAMES)
    shards = _shards(frames, args.max_atoms, args.max_frames)
    SHARDS.mkdir(exist_ok=True)
    timing = _timing()
    if args.status:
        done = [k for k in range(len(shards)) if (SHARDS / f"shard_{k:03d}.extxyz.gz").exists()]
        n_done = sum(len(shards[k]) for k in done)
        a_done = sum(len(frames[i]) for k in done for i in shards[k])
        print(f"{len(done)}/{len(shards)} shards final: {n_done}/{len(frames)} frames, "
              f"{a_done}/{sum(len(a) for a in frames)} atoms; oracle time {sum(t['oracle_s'] for t in timing.values()) / 3600:.2f} h")
        for k, idx in enumerate(shards):
            stale = _stale(SHARDS / f"shard_{k:03d}.extxyz.gz", [frames[i] for i in idx]) if k in done else None
            mark = f"STALE ({stale})" if stale else "done" if k in done else "todo"
            print(f"  shard {k:03d} {mark} {frames[idx[0]].info.get('config_type')}: {len(idx)} frames, "
                  f"{sum(len(frames[i]) for i in idx)} atoms")
        return 0
    cfg = load_config(LabelConfig, HERE / "label.yaml")
    rules = load_cell_rules(cfg.cell_rules)
    for k, idx in enumerate(shards):
        final = SHARDS / f"shard_{k:03d}.extxyz.gz"
        if args.only and k not in args.only:
            continue
        if final.exists():
            stale = _stale(final, [frames[i] for i in idx])
            if stale:
                print(f"shard {k:03d} skipped: it {stale}", flush=True)
            continue
        out = WORK / final.name
        t0 = time.time()
        summary = label_with_config([frames[i] for i in idx], out, cfg, cell_rules=rules, progress=False)
        shutil.copy(summary.failures_path, SHARDS / summary.failures_path.name)
        os.replace(out, final)  # same file system: the shard appears whole or not at all
        timing[final.name] = {"frames": len(idx), "labelled": summary.written, "failed": summary.failed,
                              "atoms": sum(len(frames[i]) for i in idx), "oracle_s": round(summary.oracle_seconds, 1),
                              "wall_s": round(time.time() - t0, 1), "config_type": frames[idx[0]].info.get("config_type")}
        write_text_atomic(HERE / "timing.json", json.dumps(timing, indent=1, sort_keys=True) + "\n")
        print(f"shard {k:03d}: {summary.written}/{len(idx)} labelled ({summary.failed} failed) in "
              f"{time.time() - t0:.0f} s -> {final}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
