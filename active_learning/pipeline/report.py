"""The quickstart report: every step's plots and tables, links to the raw JSON, how to go bigger."""

from __future__ import annotations

import json
from pathlib import Path

from active_learning.pipeline.state import Pipeline
from active_learning.pipeline.report_page import Report, Section

GO_BIGGER = """\
# the same pipeline at production sizes (a GPU node; hours to days)
seimlip quickstart --scale production --out sei-production

# or step by step on a cluster
seimlip al init campaign/ --config campaign.yaml # executor: {kind: parsl, provider: slurm, ...} in the YAML
seimlip al run campaign/                          # resumable; `seimlip al status campaign/` for the table
torchrun --nproc-per-node 4 -m mlip.train my.yaml # DDP training on 4 GPUs
seimlip deploy runs/my/checkpoints/best.pt -o model.pt
mpirun -n 64 lmp -in in.lammps                    # pair_style seimlip model.pt (plugin auto-loaded)
seimlip md run sei_formation.yaml --out md/       # protocol: engine lammps, nprocs 64, 10^5 atoms
seimlip analyze md/ && seimlip export pybamm md/analysis -o sei.json --check"""


def _json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def data_section(report: Report, record: dict) -> None:
    s = report.section("1. Shipped dataset and starting model")
    metrics = _json(record["metrics"])
    s.text(f"Dataset {record['dataset']}: " + ", ".join(f"{n} {k}" for k, n in record["n_frames"].items())
           + " frames (GFN1-xTB). Starting model: " + metrics["model"] + ", checked on the test split.")
    rows = [[name, m["n_frames"], m["energy_mae_per_atom"] * 1000, m["force_mae"] * 1000, m["force_rmse"] * 1000]
            for name, m in metrics.get("per_config_type", {}).items()]
    rows.append(["all", metrics["n_frames"], metrics["energy_mae_per_atom"] * 1000,
                 metrics["force_mae"] * 1000, metrics["force_rmse"] * 1000])
    s.table(["config_type", "frames", "E MAE (meV/atom)", "F MAE (meV/Å)", "F RMSE (meV/Å)"], rows)
    for plot in record["plots"]:
        s.image(Path(plot), Path(plot).stem.replace("_", " "))
    s.link(Path(record["metrics"]), "test metrics (JSON)").link(Path(record["stats"]), "dataset statistics (JSON)")


def campaign_section(report: Report, record: dict) -> None:
    s = report.section("2. Active learning (GFN1-xTB oracle, local executor)")
    s.text(f"{record['iterations']} iteration(s) after the first committee; {record['oracle_calls']} oracle "
           f"calls; {record['labelled']} labelled frames; stopped by: {record['stopped_by']}. "
           "Trust levels and budget: campaign/campaign.yaml. The committee is deployed as "
           f"{record['model']}" + (f" ({record['start']})." if record.get("start") else "."))
    if record.get("md_model"):
        s.text(f"The MD and validation steps run **{record['md_model']}**: {record['md_model_reason']}.")
    cols = [("iteration", "iteration", 1), ("phase", "phase", 1), ("explored", "explored", 1),
            ("accurate_fraction", "accurate", 1), ("candidate_fraction", "candidate", 1),
            ("failed", "failed jobs", 1), ("oracle_calls", "oracle calls", 1), ("labelled", "labelled", 1),
            ("test_energy_mae_per_atom", "test E MAE (meV/atom)", 1000), ("test_force_mae", "test F MAE (meV/Å)", 1000)]
    cols = [c for c in cols if any(c[0] in r for r in record["table"])]
    rows = [[(r.get(k) * f if isinstance(r.get(k), float) else r.get(k)) for k, _, f in cols] for r in record["table"]]
    s.table([label for _, label, _ in cols], rows)
    for plot in record["plots"]:
        s.image(Path(plot), "campaign: " + Path(plot).stem.replace("_", " "))
    s.link(Path(record["folder"]) / "campaign.yaml", "campaign config")


def md_section(title: str):
    def section(report: Report, record: dict) -> None:
        from md_runs.trajectory import read_run_info, read_thermo_csv

        s = report.section(title)
        rows = []
        for run in map(Path, record["runs"]):
            info = read_run_info(run)
            thermo = read_thermo_csv(run / "thermo.csv")
            t = thermo.get("temperature_K")
            rows.append([info.name, info.engine, info.system, info.temperature_K, info.steps_done,
                         info.steps_done * info.timestep_fs / 1000, float(t.mean()) if t is not None and len(t) else None])
            for plot in sorted(run.glob("*.png")):
                s.image(plot, f"{info.name}: {plot.stem.replace('_', ' ')}")
            s.link(run / "run.json", f"{info.name}/run.json")
        s.blocks.insert(0, ("table", (["run", "engine", "system", "T target (K)", "steps", "time (ps)",
                                        "T mean (K)"], rows)))
    return section


def analysis_section(report: Report, record: dict) -> None:
    from md_runs.analysis.result import load_result

    s = report.section("5. Analysis: species, profiles, Li diffusion, Arrhenius")
    rows = []
    for name, path in record["results"].items():
        result = load_result(path)
        for qname, value in result.quantities.items():
            for q in value if isinstance(value, list) else [value]:
                where = ", ".join([f"{k}={v}" for k, v in q.meta.items()
                                   if k in ("species", "region", "temperature_K", "phase", "law", "of")]
                                  + [f"NOT {k}" for k in ("diffusive", "equilibrated") if q.meta.get(k) is False]
                                  + (["MELTED"] if q.meta.get("melted") else []))
                rows.append([name, qname, where, q.mean, q.std, q.unit])
        plot = Path(path).with_suffix(".png")  # every analysis draws <kind>.png beside <kind>.json
        if plot.is_file():
            s.image(plot, name.replace("/", ": ").replace("_", " "))
        s.link(Path(path), f"{name}.json")
    s.blocks.insert(0, ("table", (["result", "quantity", "where", "mean", "std", "unit"], rows)))
    s.blocks.insert(0, ("text", "'NOT diffusive' marks an MSD still in its ballistic or vibrational regime "
                                "(run too short for a diffusion coefficient); 'NOT equilibrated' an NPT volume "
                                "still drifting. Values from such runs are still exported, with a WARNING note in their provenance. "
                                "'MELTED' marks a crystal whose anion lattice left its sites (crystallinity.json): "
                                "its Li motion is a liquid's, never 'diffusive', and the export refuses it."))


def validation_section(report: Report, record: dict) -> None:
    from md_runs.validation.outputs import HEADER, load_validation, row_cells, verdict_line

    s = report.section("6. Physical validation of the model (seimlip validate --suite quick)")
    doc = load_validation(record["json"])
    s.text(f"{doc['model']['name']} against {doc['reference']['method']} (reference file status: "
           f"{doc['reference']['status']}) and experiment, {doc['seconds']:.0f} s. Verdict: {verdict_line(doc)}")
    s.table(HEADER, [row_cells(r) for r in doc["rows"]])
    notes = list(dict.fromkeys(f"{r['quantity']}: {r['note']}" for r in doc["rows"]
                               if r.get("note") and r["passed"] is not True))
    for note in notes:
        s.text(note)
    for item in doc.get("cannot_establish", []):
        s.text("The quick suite cannot establish: " + item)
    for plot in doc.get("plots", []):
        s.image(Path(plot), "validation: " + Path(plot).stem.replace("_", " "))
    s.link(Path(record["markdown"]), "validation.md").link(Path(record["json"]), "validation.json")


def export_section(report: Report, record: dict) -> None:
    s = report.section("7. PyBaMM parameters (with uncertainty) and the PyBaMM check")
    if record.get("refused"):
        s.text(f"Export refused: {record['refused']}. The validation above says why; "
               "`seimlip quickstart --allow-unvalidated` exports these parameters anyway, marked UNVALIDATED "
               "in sei.json, in the PyBaMM check and here.")
        return
    doc = _json(record["export"])
    judged = doc.get("plausibility", {})
    rows = [[name, u.get("mean"), u.get("std"), u.get("unit", ""), judged.get(name, {}).get("base_value"),
             "-".join(f"{v:.2g}" for v in judged.get(name, {}).get("plausible_range") or [] if v is not None),
             {True: "yes", False: "NO"}.get(judged.get(name, {}).get("plausible"), "-")]
            for name, u in doc.get("uncertainty", {}).items()]
    s.text(f"Each value beside {doc.get('base')}'s and a plausible range from the SEI-modelling literature "
           "(md_runs/export/plausibility.py); one outside its range or more than three orders of magnitude from "
           f"{doc.get('base')} carries a WARNING.")
    s.table(["PyBaMM parameter", "mean", "std", "unit", doc.get("base", "base set"), "plausible range", "plausible"],
            rows)
    warned = [[name, note] for name, u in doc.get("uncertainty", {}).items()
              for note in u.get("provenance", {}).get("notes", []) if note.startswith(("WARNING", "UNVALIDATED"))]
    if warned:
        s.table(["parameter", "warning"], warned)
    s.table(["not provided", "why"], [[k, v] for k, v in doc.get("not_provided", {}).items()])
    if record.get("check_failed"):
        s.text(f"The PyBaMM check could not run: {record['check_failed']}")
        s.link(Path(record["export"]), "sei.json (pybamm.ParameterValues on the base set)")
        s.link(Path(record["bpx"]), "sei.bpx.json (BPX, User-defined section)")
        return
    s.text(f"Checked with PyBaMM ({record.get('check_option')}) on {doc.get('base')}: capacity fade and SEI "
           "thickness at the exported means with the uncertainty band.")
    for warning in _json(Path(record["check_dir"]) / "check.json").get("warnings", []):
        s.text(f"PyBaMM check warning: {warning}")
    for plot in record["plots"]:
        s.image(Path(plot), "PyBaMM: " + Path(plot).stem.replace("_", " "))
    s.link(Path(record["export"]), "sei.json (pybamm.ParameterValues on the base set)")
    s.link(Path(record["bpx"]), "sei.bpx.json (BPX, User-defined section)")
    s.link(Path(record["check_dir"]) / "check.json", "check.json")


SECTIONS = {"data": data_section, "campaign": campaign_section,
            "sei_formation": md_section("3. SEI formation MD"),
            "li_transport": md_section("4. Li transport MD"),
            "analysis": analysis_section, "validation": validation_section, "export": export_section}


def write_report(pipe: Pipeline) -> tuple[Path, Path]:
    report = Report("seimlip quickstart: from reference data to PyBaMM parameters", pipe.out)
    intro = report.section("Run")
    intro.text(f"Run folder {pipe.out.resolve()}; config quickstart.yaml; provenance provenance.json.")
    intro.table(["step", "seconds"], [[name, rec.get("seconds", 0.0)] for name, rec in pipe.records.items()])
    for name, record in pipe.records.items():
        SECTIONS[name](report, record)
    report.section("Go bigger").text(
        "The same commands scale out: a cluster executor for the oracle, DDP training, MPI LAMMPS.").code(GO_BIGGER)
    return report.write()
