"""pair_style seimlip ... graph halo (per-layer exchange of ghost features between MPI ranks)
against the ASE calculator on 1-4 ranks (oversubscribed), and its NVE energy drift."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from md_runs.lammps import LammpsProtocol, read_dump, run_lammps, write_lammps_data
from mlip.deploy import export, load_calculator

from helpers import FORMAT_1_FILE, small_model

pytestmark = pytest.mark.slow

MODELS = {  # l_max > 0 and >= 2 interactions; a shallow ensemble; a 2-member committee with ZBL
    "l2": [dict(l_max=2, n_interactions=2)],
    "heads": [dict(l_max=1, n_interactions=3, readout_heads=3)],
    "committee": [dict(l_max=1, n_interactions=2, zbl=True)] * 2,
}


@pytest.fixture(scope="module")
def halo_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("halo-models")
    out = {}
    for name, configs in MODELS.items():
        members = [small_model(seed, **kw) for seed, kw in enumerate(configs)]
        out[name] = (export(members if len(members) > 1 else members[0], folder / f"{name}.pt"), members)
    return out


@pytest.fixture(scope="module")
def interface():
    from md_runs.builders import li_interface, rattle

    return rattle(li_interface(size=(3, 3), layers=4, n_solvent=7, seed=0), stdev=0.03, seed=1)


def lammps_point(atoms, model, n_ranks, workdir, pair_options="graph halo", uncertainty=False):
    """Energy, forces, stress, per-atom energies (and deviation) at full precision from
    ``mpiexec -n n_ranks lmp``, with the log text."""
    from mlip.deploy.format import read_metadata
    from mlip.deploy.lammps_runtime import lmp_executable, mpiexec
    from mlip.deploy.plugin import lammps_plugin_path

    workdir.mkdir(parents=True, exist_ok=True)
    box, types = write_lammps_data(workdir / "atoms.data", atoms, read_metadata(model)["species"], velocities=False)
    dev = ["compute dev all seimlip/atom"] if uncertainty else []
    script = [
        "units metal", "atom_style atomic", "atom_modify map yes", f"boundary {box.boundary}", "newton on",
        f"plugin load {lammps_plugin_path()}", "read_data atoms.data", f"pair_style seimlip {model} {pair_options}",
        f"pair_coeff * * {' '.join(types)}", "neighbor 1.0 bin", "compute pe all pe/atom",
        "compute vir all pressure NULL virial", *dev,
        "thermo_style custom step pe c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]",
        "thermo_modify format float %.17g",
        f"dump d all custom 1 dump.lammpstrj id type x y z fx fy fz c_pe{' c_dev' if uncertainty else ''}",
        "dump_modify d sort id format float %.17g", "run 0",
    ]
    (workdir / "in.lammps").write_text("\n".join(script) + "\n")
    proc = subprocess.run([mpiexec(), "-n", str(n_ranks), lmp_executable(), "-in", "in.lammps", "-log", "log.lammps",
                           "-nocite"], cwd=workdir, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    log = (workdir / "log.lammps").read_text() if (workdir / "log.lammps").exists() else ""
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
    lines = log.splitlines()
    row = lines[next(k for k, line in enumerate(lines) if line.split()[:2] == ["Step", "PotEng"]) + 1].split()
    (frame,) = read_dump(workdir / "dump.lammpstrj", types, rotation=box.rotation)
    nktv2p = 1.6021765e6  # bar per eV/Å^3 (LAMMPS metal units)
    p = np.array([float(v) for v in row[2:8]]) / nktv2p
    s = box.to_ase_stress(-np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]]))
    out = {"energy": float(row[1]), "forces": frame.get_forces(), "energies": frame.arrays["c_pe"],
           "stress": np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]]), "log": log}
    if uncertainty:
        out["dev"] = frame.arrays["c_dev"]
    return out


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("n_ranks", [1, 2, 3, 4])
@pytest.mark.parametrize("name", list(MODELS))
def test_halo_equals_ase(plugin, halo_models, interface, tmp_path, name, n_ranks):
    path, members = halo_models[name]
    ref = load_calculator(members if len(members) > 1 else members[0], device="cpu")
    ref.calculate(interface, ["energy", "forces", "stress"])
    uncertain = name != "l2"
    got = lammps_point(interface, path, n_ranks, tmp_path / "run", "graph auto" if n_ranks > 1 else "graph halo",
                       uncertainty=uncertain)
    assert f"seimlip: graph halo on {n_ranks} rank" in got["log"]
    volume = interface.get_volume()
    diffs = {"energy": rel_diff(got["energy"], ref.results["energy"]),
             "forces": rel_diff(got["forces"], ref.results["forces"]),
             "virial": rel_diff(got["stress"] * volume, ref.results["stress"] * volume),
             "energies": rel_diff(got["energies"], ref.results["energies"])}
    if name == "committee":
        diffs["force_dev"] = rel_diff(got["dev"], ref.results["force_dev"])
    if name == "heads":
        diffs["atom_energy_std"] = rel_diff(got["dev"], ref.results["atom_energy_std"])
    print(f"{name} on {n_ranks} ranks: relative differences to ASE " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
    assert max(diffs.values()) <= 1e-10, diffs


def test_halo_fewer_ghosts_than_deep_shell(plugin, halo_models, interface, tmp_path):
    """On 2 ranks the halo graph holds one cutoff of ghosts, the deep shell n_interactions cutoffs."""
    path, _ = halo_models["heads"]  # 3 interactions
    halo = lammps_point(interface, path, 2, tmp_path / "halo", "graph halo")
    ghosts = lammps_point(interface, path, 2, tmp_path / "ghosts", "graph ghosts")
    assert rel_diff(halo["forces"], ghosts["forces"]) <= 1e-10

    def mean_ghosts(log):
        line = next(line for line in log.splitlines() if line.startswith("seimlip: graph") and "per rank" in line)
        return float(line.split("ghost atoms in the model's graph (mean ")[1].split(")")[0])

    assert mean_ghosts(halo["log"]) < mean_ghosts(ghosts["log"])


def test_graph_halo_refuses_a_model_without_layers(plugin, interface, tmp_path):
    from helpers import TwoHopPotential

    path = export(TwoHopPotential(), tmp_path / "twohop.pt")
    with pytest.raises(AssertionError, match="graph halo needs a model file with per-layer methods"):
        lammps_point(interface, path, 1, tmp_path / "run", "graph halo")


def test_halo_nve_drift_as_deep_shell(plugin, interface, tmp_path):
    """The shipped model (float32, deployed with the halo methods), 2 ranks, NVE 400 x 0.5 fs:
    the halo path conserves energy as the deep-ghost path does."""
    from mlip.deploy.format import read_metadata
    from mlip.model.io import resolve_model_path

    path = resolve_model_path("li-ec-gfn1")
    assert read_metadata(path).get("halo_exchange") is True
    protocol = LammpsProtocol(ensemble="nve", steps=400, timestep_fs=0.5, temperature=300.0, thermo_every=50,
                              dump_every=0)
    drift = {}
    for graph in ("ghosts", "halo"):
        run = run_lammps(interface, path, protocol, workdir=tmp_path / graph, nprocs=2, pair_options=f"graph {graph}")
        etot = run.thermo["TotEng"]
        drift[graph] = ((etot[-1] - etot[0]) / len(interface), np.abs(etot - etot[0]).max() / len(interface))
        if graph == "halo":
            assert "seimlip: graph halo on 2 ranks" in (run.workdir / "log.lammps").read_text()
    print("NVE 400 x 0.5 fs, 2 ranks: " + ", ".join(f"{g}: drift {d:.2e} eV/atom, max |E - E0| {f:.2e} eV/atom"
                                                      for g, (d, f) in drift.items()))
    for d, f in drift.values():
        assert abs(d) < 1e-3 and f < 2e-3
    assert abs(drift["halo"][0]) < max(3 * abs(drift["ghosts"][0]), 1e-4)


def test_version_1_file_keeps_the_old_paths(plugin, interface, tmp_path):
    """A deployed file written before the halo methods (format 1: the shipped model as it was
    until it was re-exported, kept in tests/data): graph auto on 2 ranks falls back to the deep
    ghost shell, graph halo says to re-export."""
    from mlip.deploy.format import read_metadata

    path = FORMAT_1_FILE
    assert read_metadata(path)["format_version"] == 1
    got = lammps_point(interface, path, 2, tmp_path / "auto", "graph auto")
    assert "seimlip: graph ghosts on 2 ranks" in got["log"]
    with pytest.raises(AssertionError, match="re-export the model with `seimlip deploy`"):
        lammps_point(interface, path, 1, tmp_path / "halo", "graph halo")
