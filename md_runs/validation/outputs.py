"""Outputs of ``seimlip validate``: ``validation.json`` (schema ``seimlip.validation/1``),
``validation.md``, the printed table and the plots (E-V curves, crystal traces, liquid densities and
Li-O RDF, NEB profiles).

The table: quantity | model | reference method | experiment | deviation | tolerance | pass.
:func:`load_validation` reads a ``validation.json`` back (the export gate and the quickstart
report use it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from md_runs.validation.rows import Row, is_info
from mlip.utils import read_json_document, write_text_atomic

SCHEMA = "seimlip.validation/1"
HEADER = ["quantity", "model", "reference method", "experiment", "deviation", "tolerance", "pass"]


def fmt_number(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    v = float(value)
    if not np.isfinite(v):
        return "nan"
    text = f"{v:.3g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    if unit in ("fraction", "rel"):
        return f"{v:.3f}" if unit == "fraction" else f"{v * 100:+.1f} %"
    return text


def row_cells(row: Row | dict) -> list[str]:
    r = row if isinstance(row, dict) else row.to_json()
    unit = r["unit"]
    q = f"{r['quantity']} ({unit})" if unit and unit not in ("fraction", "rel", "1") else r["quantity"]
    if unit == "rel":
        q = r["quantity"]
    if r["deviation"] is None:
        dev = "—"
    elif r["deviation_kind"] == "rel":
        dev = f"{r['deviation'] * 100:+.1f} %"
    else:
        dev = f"{r['deviation']:+.3g} {unit}".strip()
    if r.get("tolerance_text", "").startswith("info"):
        verdict = "info"
    else:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[r["passed"]]
    return [q, fmt_number(r["model"], unit), fmt_number(r["reference"], unit), fmt_number(r["experiment"], unit),
            dev, r["tolerance_text"], verdict]


def markdown_table(rows: list[dict]) -> str:
    """The table with numbered notes below it (notes repeated verbatim are numbered once)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    notes: dict[str, int] = {}
    for r in rows:
        cells = row_cells(r)
        if r.get("note"):
            k = notes.setdefault(r["note"], len(notes) + 1)
            cells[0] += f" [{k}]"
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    if notes:
        lines.append("")
        lines += [f"[{k}] {note}  " for note, k in notes.items()]
    return "\n".join(lines)


def print_table(doc: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    table = Table(title=f"seimlip validate {doc['model']['name']} --suite {doc['suite']} "
                        f"(reference: {doc['reference']['method']}, {doc['reference']['status']})",
                  show_lines=False)
    for col in HEADER:
        table.add_column(col, overflow="fold")
    style = {"PASS": "green", "FAIL": "bold red", "n/a": "yellow", "info": "dim"}
    for r in doc["rows"]:
        cells = row_cells(r)
        table.add_row(*[Text(c) for c in cells[:-1]], Text(cells[-1], style=style[cells[-1]]))
    console.print(table)
    seen = set()
    for r in doc["rows"]:
        note = r.get("note")
        if note and note not in seen and r["passed"] is not True and not r.get("tolerance_text", "").startswith("info"):
            seen.add(note)
            console.print(Text(f"  {r['quantity']}: {note}"), highlight=False)
    verdicts = ", ".join(f"{p} {'PASS' if v['passed'] else 'FAIL' if v['passed'] is False else 'n/a'}"
                         for p, v in doc["phases"].items())
    console.print(Text(f"phases: {verdicts}"), highlight=False)
    cached = f", {len(doc.get('cached_units', []))} units cached from an earlier run" if doc.get("cached_units") else ""
    console.print(Text(f"{doc['summary']['failed']} of {doc['summary']['judged']} judged rows failed, "
                       f"{doc['summary']['inconclusive']} inconclusive; wall time {doc['seconds']:.0f} s "
                       f"(units: {doc.get('unit_seconds', 0):.0f} s of worker time{cached}); "
                       f"{doc['files']['markdown']}"), highlight=False)


def load_validation(path: str | os.PathLike) -> dict:
    """A ``validation.json`` (a file, or a folder holding one); one clear error if it is not one."""
    path = Path(path)
    if path.is_dir():
        path = path / "validation.json"
    doc = read_json_document(path, "validation result", SCHEMA)
    if not isinstance(doc.get("phases"), dict) or not isinstance(doc.get("rows"), list):
        from mlip.errors import UserError

        raise UserError("validation result without 'phases' and 'rows'", str(path))
    doc.setdefault("path", str(path))
    return doc


# --- plots ---------------------------------------------------------------------------------------
def plot_eos(results: dict[str, dict], ref, png: Path) -> Path | None:
    """E - E0 per formula unit vs volume: the model's points and fit, the reference method's, and the
    experimental volume; each fit drawn over +-12 % of its own V0 (the fitted region)."""
    from md_runs.analysis.plotting import figure, save_png
    from md_runs.validation.eos import birch_murnaghan, EV_A3_TO_GPA

    phases = [p for p, r in results.items() if "v0_A3_per_fu" in r]
    if not phases:
        return None
    fig, axes = figure(len(phases), 3.6, 3.2)
    for ax, phase in zip(axes, phases):
        r = results[phase]
        curves = [("model", "C0", "o", r)]
        rv = ref.value("eos", phase)
        if rv and rv.get("volumes_A3_per_fu"):
            curves.append((ref.method_name, "C1", "s", rv))
        exp = ref.experiment(phase, "V0_A3_per_fu")
        a = ref.experiment(phase, "a0_A")
        v_exp = exp["value"] if exp else (a["value"] ** 3 / {"Li": 2, "LiF": 4, "Li2O": 4}.get(phase, 4) if a else None)
        v0s = [c[3]["v0_A3_per_fu"] for c in curves] + ([v_exp] if v_exp else [])
        lo, hi = 0.8 * min(v0s), 1.25 * max(v0s)
        top = 0.0
        for label, color, marker, c in curves:
            v, e = np.array(c["volumes_A3_per_fu"]), np.array(c["energies_eV_per_fu"]) - c["e0_eV_per_fu"]
            keep = (v >= lo) & (v <= hi)
            ax.plot(v[keep], e[keep], marker, ms=3, color=color, label=f"{label}: V0 {c['v0_A3_per_fu']:.2f} Å³, "
                                                                      f"B0 {c['b0_GPa']:.0f} GPa")
            vv = np.linspace(0.88 * c["v0_A3_per_fu"], 1.12 * c["v0_A3_per_fu"], 100)
            fit = birch_murnaghan(vv, 0.0, c["v0_A3_per_fu"], c["b0_GPa"] / EV_A3_TO_GPA)
            ax.plot(vv, fit, color=color, lw=1)
            top = max(top, float(fit.max()))
        if v_exp:
            ax.axvline(v_exp, color="k", ls="--", lw=0.8, label=f"experiment: {v_exp:.2f} Å³")
        ax.set_xlim(lo, hi)
        ax.set_ylim(-0.1 * top, 2.0 * top if top > 0 else 0.3)
        ax.set_xlabel("V per formula unit (Å³)")
        ax.set_ylabel("E − E0 (eV per formula unit)")
        ax.set_title(phase, fontsize=9)
        ax.legend(fontsize=6)
    return save_png(fig, png)


def plot_stability(results: list[dict], png: Path) -> Path | None:
    from md_runs.analysis.plotting import figure, save_png

    runs = [r for r in results if r.get("traces")]
    if not runs:
        return None
    phases = list(dict.fromkeys(r["phase"] for r in runs))
    fig, axes = figure(2, 4.8, 3.4)
    for k, r in enumerate(runs):
        tr = r["traces"]
        label = f"{r['phase']} {r['temperature_K']:g} K"
        color = f"C{phases.index(r['phase'])}"
        ls = "-" if k % 2 == 0 else "--"
        axes[0].plot(tr["time_ps"], tr["site_fraction"], ls, color=color, lw=1, label=label)
        v = np.array(tr["volume_A3"])
        axes[1].plot(tr["time_ps"], v / r["start_volume_A3"], ls, color=color, lw=1, label=label)
    axes[0].set_ylabel("framework atoms within 1 Å of their sites")
    axes[0].set_ylim(-0.02, 1.02)
    axes[1].set_ylabel("V / V(start)")
    for ax in axes:
        ax.set_xlabel("time (ps)")
        ax.legend(fontsize=6)
    fig.suptitle("crystal stability (NPT)", fontsize=9)
    return save_png(fig, png)


def plot_liquids(results: dict[str, dict], ref, png: Path) -> Path | None:
    from md_runs.analysis.plotting import figure, save_png

    runs = {k: r for k, r in results.items() if r.get("traces")}
    if not runs:
        return None
    fig, axes = figure(2, 4.8, 3.4)
    for k, (name, r) in enumerate(runs.items()):
        tr = r["traces"]
        axes[0].plot(tr["time_ps"], tr["density_g_cm3"], color=f"C{k}", lw=1, label=f"{name} {r['temperature_K']:g} K")
        exp = ref.experiment(name, "density_g_cm3")
        if exp:
            axes[0].axhline(exp["value"], color=f"C{k}", ls=":", lw=1)
        if r.get("rdf"):
            axes[1].plot(r["rdf"]["r_A"], r["rdf"]["g"], color=f"C{k}", lw=1,
                         label=f"{name}: CN {r.get('li_o_coordination', float('nan')):.1f}")
    axes[0].set_xlabel("time (ps)")
    axes[0].set_ylabel("density (g/cm³); dotted: experiment")
    axes[1].set_xlabel("r (Å)")
    axes[1].set_ylabel("g Li–O (r)")
    for ax in axes:
        ax.legend(fontsize=6)
    return save_png(fig, png)


def plot_neb(results: dict[str, dict], ref, png: Path) -> Path | None:
    from md_runs.analysis.plotting import figure, save_png

    runs = {k: r for k, r in results.items() if "energies_eV" in r}
    if not runs:
        return None
    fig, axes = figure(len(runs), 4.0, 3.2)
    for ax, (defect, r) in zip(axes, runs.items()):
        e = np.array(r["energies_eV"])
        ax.plot(np.linspace(0, 1, len(e)), e, "o-", color="C0", label="model (own path)")
        if r.get("on_reference_path_energies_eV"):
            e2 = np.array(r["on_reference_path_energies_eV"])
            ax.plot(np.linspace(0, 1, len(e2)), e2, "^--", color="C0", alpha=0.6, label="model on reference path")
        rv = ref.value("migration", defect)
        if rv and rv.get("energies_eV"):
            e3 = np.array(rv["energies_eV"])
            ax.plot(np.linspace(0, 1, len(e3)), e3, "s-", color="C1", label=ref.method_name)
        if r.get("reference_on_model_path_energies_eV"):
            e4 = np.array(r["reference_on_model_path_energies_eV"])
            ax.plot(np.linspace(0, 1, len(e4)), e4, "v--", color="C1", alpha=0.6, label="reference on model path")
        ax.set_xlabel("reaction coordinate")
        ax.set_ylabel("E − E(initial) (eV)")
        ax.set_title(f"LiF Li {defect} hop", fontsize=9)
        ax.legend(fontsize=6)
    return save_png(fig, png)


def write_outputs(doc: dict, out: Path) -> tuple[Path, Path]:
    """``validation.json`` and ``validation.md`` (atomically)."""
    json_path, md_path = out / "validation.json", out / "validation.md"
    doc["files"] = {"json": str(json_path), "markdown": str(md_path)}
    write_text_atomic(json_path, json.dumps(doc, indent=1, default=json_default) + "\n")
    write_text_atomic(md_path, markdown(doc))
    return json_path, md_path


def verdict_line(doc: dict) -> str:
    failed = [p for p, v in doc["phases"].items() if v["passed"] is False]
    if failed:
        return f"FAILED for {', '.join(failed)}: not fit for production MD of these phases without retraining."
    if any(v["passed"] is None for v in doc["phases"].values()):
        return "no row failed, but some are inconclusive (see n/a rows)."
    return "every judged row passed."


def markdown(doc: dict) -> str:
    m = doc["model"]
    ref = doc["reference"]
    lines = [f"# Validation of {m['name']} ({doc['suite']} suite)", "",
             f"Model: `{m.get('path') or m['name']}` (sha256 {str(m.get('sha256'))[:12]}). Reference method: "
             f"{ref['method']} ({ref['status']}; {ref['path']}). Wall time {doc['seconds']:.0f} s on "
             f"{doc['config']['workers']} worker(s), engine {doc['config']['engine']}; the units took "
             f"{doc.get('unit_seconds', 0):.0f} s of worker time"
             + (f" ({len(doc['cached_units'])} cached from an earlier run)" if doc.get("cached_units") else "")
             + ".", "",
             f"**Verdict:** {verdict_line(doc)}", "", markdown_table(doc["rows"]), "",
             "Phases: " + "; ".join(f"{p}: {'PASS' if v['passed'] else 'FAIL' if v['passed'] is False else 'n/a'}"
                                    + (f" (failed: {', '.join(v['failed'])})" if v['failed'] else "")
                                    for p, v in doc["phases"].items()), ""]
    if doc.get("cannot_establish"):
        lines += ["## What this suite cannot establish", ""] + [f"- {x}" for x in doc["cannot_establish"]] + [""]
    lines += ["## Tolerances", "", "| tolerance | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in doc["config"]["tolerances"].items()] + [""]
    if doc.get("plots"):
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in doc["plots"]] + [""]
    return "\n".join(lines)


def summary(rows: list[Row]) -> dict:
    judged = [r for r in rows if not is_info(r)]
    return {"rows": len(rows), "judged": len([r for r in judged if r.passed is not None]),
            "failed": len([r for r in judged if r.passed is False]),
            "inconclusive": len([r for r in judged if r.passed is None])}


def json_default(value: Any) -> Any:
    """``json.dumps``' ``default`` for validation documents: arrays as lists, paths as strings."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
