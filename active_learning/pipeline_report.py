"""The quickstart report: every step's plots and tables, links to the raw JSON, how to go bigger."""

from __future__ import annotations

import json
from pathlib import Path

from active_learning.pipeline import Pipeline
from active_learning.report import Report, Section

GO_BIGGER = """\
# the same pipeline at production sizes (a GPU node; hours to days)
seimlip quickstart --scale production --out sei-production

# or step by step on a cluster
seimlip al init campaign.yaml campaign/          # executor: {kind: parsl, provider: slurm, ...} in the YAML
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


SECTIONS = {"data": data_section}


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
