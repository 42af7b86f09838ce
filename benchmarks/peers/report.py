"""The benchmark's summary (ratios) and its one printed table. Runs in the project venv."""

from __future__ import annotations


def _speeds(model: dict, device: str) -> list[tuple[int, float]]:
    cells = model.get("speed", {}).get(device, {}).get("cells", [])
    return [(c["n_atoms"], c["atom_steps_per_s"]) for c in cells]


def summarise(results: dict) -> dict:
    """Per model: test MAEs (meV), throughputs; and the ratios ours/peer."""
    out: dict = {"models": {}, "ratios": {}}
    for name, m in results.get("models", {}).items():
        if "error" in m:
            out["models"][name] = {"error": m["error"]}
            continue
        row = {"energy_mae_mev_per_atom": 1e3 * m["test"]["energy_mae_per_atom"],
               "force_mae_mev_per_A": 1e3 * m["test"]["force_mae"],
               "n_parameters": m["train"].get("n_parameters"), "epochs": m["train"].get("epochs"),
               "steps": m["train"].get("steps"),
               "train_time_s": m["train"].get("train_time_s"), "inference": m["train"].get("inference_mode")}
        for device, sp in m.get("speed", {}).items():
            row[f"atom_steps_per_s_{device}"] = {str(n): v for n, v in _speeds(m, device)}
            if "error" in sp:
                row[f"speed_error_{device}"] = sp["error"].splitlines()[0]
        out["models"][name] = row
    ours = out["models"].get("ours")
    if ours and "error" not in ours:
        for peer in ("mace", "nequip"):
            p = out["models"].get(peer)
            if not p or "error" in p:
                continue
            r = {"energy_mae": ours["energy_mae_mev_per_atom"] / p["energy_mae_mev_per_atom"],
                 "force_mae": ours["force_mae_mev_per_A"] / p["force_mae_mev_per_A"]}
            for key in [k for k in ours if k.startswith("atom_steps_per_s_") and k in p]:
                r[key.replace("atom_steps_per_s", "throughput")] = {
                    n: ours[key][n] / p[key][n] for n in ours[key] if n in p[key]}
            out["ratios"][f"ours/{peer}"] = r
    return out


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(results: dict) -> str:
    s, mach = results["summary"], results["machine"]
    devices = sorted({k.rsplit("_", 1)[1] for m in s["models"].values() for k in m if k.startswith("atom_steps")},
                     key=lambda d: d != "cpu")
    sizes: list[str] = []
    for m in s["models"].values():
        for d in devices:
            for n in m.get(f"atom_steps_per_s_{d}", {}):
                if n not in sizes:
                    sizes.append(n)
    sizes.sort(key=int)
    lines = []
    vers = []
    for name, m in results["models"].items():
        v = (m.get("train") or {}).get("versions") or {}
        extra = ", ".join(f"{k} {v[k]}" for k in ("e3nn", "mace-torch", "nequip", "seimlip") if v.get(k))
        if v:
            vers.append(f"{name}: torch {v.get('torch')}, {extra}")
    lines.append(f"Machine: {mach.get('cpu')}; {mach.get('cores_usable')} usable cores of {mach.get('cores_os')}; "
                 f"{mach.get('threads')} torch threads; load avg at start {tuple(round(x, 1) for x in mach['load_avg_start'])}"
                 f", at end {tuple(round(x, 1) for x in mach.get('load_avg_end', ()))}; GPU: {mach.get('cuda') or 'none'}")
    dirty = mach.get("mlip_uncommitted_changes")
    lines.append("Versions: " + "; ".join(vers) + f"; seimlip at git {mach.get('git_revision')}"
                 + (f" + {len(dirty)} uncommitted change(s) under mlip/" if dirty else ""))
    st = results["settings"]
    d = results.get("data", {})
    lines.append(f"Data: {d.get('n_frames')} frames (train/val/test); budget {st['budget_min']} min of training "
                 f"per model; batch {st['batch_size']}; loss weights E {st['energy_weight']} : F {st['forces_weight']}; float32")
    head = f"{'model':<12}{'params':>9}{'epochs':>8}{'steps':>8}{'train s':>9}{'E MAE':>10}{'F MAE':>9}"
    unit = f"{'':<12}{'':>9}{'':>8}{'':>8}{'':>9}{'meV/atom':>10}{'meV/Å':>9}"
    for dname in devices:
        for n in sizes:
            head += f"{dname + ' ' + n + ' at':>15}"
            unit += f"{'atom-steps/s':>15}"
    lines += ["", head, unit, "-" * len(head)]
    for name, m in s["models"].items():
        if "error" in m:
            lines.append(f"{name:<12}FAILED: {m['error'].splitlines()[0]}")
            continue
        row = (f"{name:<12}{_fmt(m['n_parameters'], ',d'):>9}{_fmt(m['epochs'], 'd'):>8}{_fmt(m['steps'], ',d'):>8}"
               f"{_fmt(m['train_time_s'], '.0f'):>9}{m['energy_mae_mev_per_atom']:>10.2f}{m['force_mae_mev_per_A']:>9.1f}")
        for dname in devices:
            for n in sizes:
                row += f"{_fmt(m.get(f'atom_steps_per_s_{dname}', {}).get(n), ',.0f'):>15}"
        lines.append(row)
    for name, r in s["ratios"].items():
        row = f"{name:<12}{'':>9}{'':>8}{'':>8}{'':>9}{r['energy_mae']:>9.2f}x{r['force_mae']:>8.2f}x"
        for dname in devices:
            for n in sizes:
                v = r.get(f"throughput_{dname}", {}).get(n)
                row += f"{_fmt(v, '.2f') + ('x' if v is not None else ''):>15}"
        lines.append(row)
    lines.append("(MAE ratios below 1 and throughput ratios above 1 favour ours; throughput = atoms x "
                 "energy+force evaluations / s through each model's ASE calculator, median of repeats after warm-up)")
    for name, m in s["models"].items():
        for k, v in m.items():
            if k.startswith("speed_error_"):
                lines.append(f"{name}: timing on {k.rsplit('_', 1)[1]} failed: {v}")
    missing = d.get("species_not_in_train")
    if missing:
        lines.append(f"Note: {', '.join(missing)} occur in the test frames or timing cells but not in the training split.")
    inference = {k: v.get("inference") for k, v in s["models"].items() if v.get("inference")}
    if inference:
        lines.append("Inference modes: " + ", ".join(f"{k} {v}" for k, v in inference.items()))
    return "\n".join(lines)
