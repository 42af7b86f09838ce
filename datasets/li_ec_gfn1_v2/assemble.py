"""Assemble li_ec_gfn1_v2 from its finished shards: final size rule, per-frame weights, split, stats.

    python datasets/li_ec_gfn1_v2/assemble.py [--out DIR]     # default: this folder

Every frame's energy and stress weights are derived again from the *current* cell rules
(``gfn1-xtb-3000K``), so a rule refined after a shard was labelled applies to the whole set
alike; a frame below its family's force size under the current rules is left out (and
counted). Then ``seimlip data split`` (stratified by config_type, seed 0, 0.8/0.1/0.1) and
``seimlip data stats`` (JSON) run on the result.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def assemble(out: Path) -> dict:
    from active_learning.oracles.cell_rules import load_cell_rules
    from mlip.data.readers import read_frames, write_frames

    rules = load_cell_rules("gfn1-xtb-3000K")
    shards = sorted((HERE / "shards").glob("shard_*.extxyz.gz"))
    if not shards:
        raise SystemExit("no finished shards yet (run label_shards.py)")
    kept, dropped = [], Counter()
    for path in shards:
        for atoms in read_frames(path):
            atoms.info.pop("_source", None)
            rule = rules.rule_for(str(atoms.info.get("config_type")))
            if rule is None or len(atoms) < rule.min_atoms:
                dropped[str(atoms.info.get("config_type"))] += 1
                continue
            for key, size in (("config_energy_weight", rule.energy_min_atoms),
                              ("config_stress_weight", rule.stress_min_atoms)):
                if size is None or len(atoms) < size:
                    atoms.info[key] = 0.0
                else:
                    atoms.info.pop(key, None)
            kept.append(atoms)
    out.mkdir(parents=True, exist_ok=True)
    all_path = out / "_work" / "assembled.extxyz.gz"
    all_path.parent.mkdir(exist_ok=True)
    write_frames(all_path, kept)
    seimlip = str(Path(sys.executable).with_name("seimlip"))
    subprocess.run([seimlip, "data", "split", str(all_path), "-o", str(out), "--seed", "0"], check=True)
    subprocess.run([seimlip, "data", "stats", str(out), "--json", str(out / "stats.json")], check=True)
    return {"shards": len(shards), "frames": len(kept), "atoms": sum(len(a) for a in kept), "dropped": dict(dropped)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args(argv)
    print(assemble(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
