"""What several test files share: small models, test structures, labelled frames, analysis files.

Test files import from here (never from each other); fixtures shared by several files live in
``conftest.py``.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk, molecule

from md_runs.analysis.result import AnalysisResult, Quantity
from md_runs.builders import li_slab, molecule_geometry
from mlip.model import ModelConfig, build_model

SPECIES = ["H", "Li", "C", "O", "F", "P"]
# The shipped li-ec-gfn1 as it was deployed before the halo methods (format 1), kept to test that
# older files still load, are upgraded by `seimlip deploy`, and are refused by LAMMPS' graph halo.
FORMAT_1_FILE = Path(__file__).resolve().parent / "data" / "li-ec-gfn1.format1.pt"
E0 = {"H": -13.6, "Li": -5.3, "C": -48.0, "O": -75.0, "F": -99.0, "P": -170.0}  # eV, GFN1-xTB scale


def small_model(seed: int = 0, cutoff: float = 4.0, dtype: str = "float64", scale: float = 1.0, shift: float = 0.0,
                **overrides):
    """A small real potential (random weights) for fast tests."""
    torch.manual_seed(seed)
    config = ModelConfig.preset("small", cutoff=cutoff, channels=8, radial_hidden=16, readout_hidden=8,
                                dtype=dtype, **overrides)
    return build_model(config, SPECIES, E0, scale=scale, shift=shift).eval()


class TwoHopPotential(torch.nn.Module):
    """A smooth, stable toy potential with two message-passing hops (TorchScript-able).

    E_i = E0 + 1/2 sum_j morse(r_ij) - c sqrt(rho_i) + b sum_j fc(r_ij) tanh(rho_j - 1), with
    rho_i = sum_j exp(-(r_ij - r0)) fc(r_ij) and fc = (1 - (r/rc)^2)^3: the last term makes an
    atom's energy depend on its neighbours' neighbourhoods, as in a 2-layer MPNN. Used where the
    test needs stable dynamics (a random-weight network has no stable crystal to vibrate about).
    """

    def __init__(self, species=SPECIES, cutoff: float = 4.0):
        super().__init__()
        self.species = list(species)
        self.cutoff = float(cutoff)
        self.config = {"n_interactions": 2}
        self.register_buffer("e0", torch.tensor([E0[s] for s in self.species], dtype=torch.float64))

    def forward(self, species: torch.Tensor, edge_index: torch.Tensor, edge_vec: torch.Tensor) -> torch.Tensor:
        i, j = edge_index[0], edge_index[1]
        r = torch.linalg.vector_norm(edge_vec, dim=1)
        x = (r / self.cutoff).clamp(max=1.0)
        fc = (1.0 - x * x) ** 3
        r0 = 3.0
        morse = 0.1 * (torch.exp(-2.4 * (r - r0)) - 2.0 * torch.exp(-1.2 * (r - r0))) * fc
        n = species.shape[0]
        rho = torch.zeros(n, dtype=r.dtype, device=r.device).index_add(0, i, torch.exp(-(r - r0)) * fc)
        hop2 = torch.zeros(n, dtype=r.dtype, device=r.device).index_add(0, i, fc * torch.tanh(rho[j] - 1.0))
        pair = torch.zeros(n, dtype=r.dtype, device=r.device).index_add(0, i, morse)
        return self.e0[species] + 0.5 * pair - 0.2 * torch.sqrt(rho + 1e-12) + 0.05 * hop2


def li_ec_cell(seed: int = 0) -> Atoms:
    """A small periodic Li|EC-like cell (Li slab + EC molecules), rattled, 3D-periodic."""
    slab = li_slab("100", size=(2, 2), layers=3, vacuum=10.0)
    slab.positions[:, 2] -= slab.positions[:, 2].min()
    cell = np.array(slab.cell)
    ec = molecule_geometry("EC")
    top = slab.positions[:, 2].max()
    ec.positions += np.array([cell[0, 0] / 2, cell[1, 1] / 2, top + 2.2]) - ec.positions.mean(0)
    atoms = slab + ec
    atoms.cell = [cell[0], cell[1], [0.6, -0.4, top + 2.2 + 7.0]]  # slightly triclinic
    atoms.pbc = True
    atoms.rattle(0.05, seed=seed)
    return atoms


XTB_SPECIES = ["H", "Li", "C", "O", "F"]  # the elements of xtb_frames


@functools.lru_cache(maxsize=1)
def xtb_frames() -> tuple[Atoms, ...]:
    """12 tiny frames labelled with GFN1-xTB (~2 s): rattled bcc Li cells (with stress), Li
    diatomics and small molecules in periodic boxes (cached per session)."""
    from tblite.ase import TBLite  # imported when first needed: it is slow to load

    rng = np.random.default_rng(7)
    out = []

    def label(a: Atoms, config_type: str) -> None:
        a.calc = TBLite(method="GFN1-xTB", verbosity=0)
        e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress(voigt=True)
        a.calc = None
        a.info.update(energy=float(e), config_type=config_type)
        if config_type == "li_bulk":
            a.info["stress"] = np.array(s)
        a.arrays["forces"] = np.array(f)
        out.append(a)

    for reps in [(1, 1, 1)] * 3 + [(1, 1, 2)] * 2:
        a = bulk("Li", "bcc", a=3.44 * (1 + 0.02 * rng.standard_normal()), cubic=True).repeat(reps)
        a.rattle(0.1, seed=int(rng.integers(1 << 30)))
        label(a, "li_bulk")
    for sym in ["LiF", "LiF", "LiH"]:
        a = Atoms(sym, positions=[[0, 0, 0], [1.55 + 0.1 * rng.standard_normal(), 0.1, 0]], cell=[6, 6, 6], pbc=True)
        a.center()
        label(a, "li_diatomic")
    for name in ["H2O", "H2O", "CO2", "CO2"]:
        a = molecule(name)
        a.center(vacuum=2.5)
        a.pbc = True
        a.rattle(0.05, seed=int(rng.integers(1 << 30)))
        label(a, "molecule")
    return tuple(out)


R = 8.314462618
T_REF = 298.15
EA = 60e3
PROV = {"system": "LiF", "model": "li-ec-gfn1", "model_sha256": "ab" * 32}


def d_at(t: float, d_ref: float) -> float:
    return d_ref * math.exp(-EA / R * (1 / t - 1 / T_REF))


def lif_results(folder, d_ref=1e-20, temps=(500.0, 600.0, 700.0), rel=0.1, arrhenius=True):
    """Result files shaped exactly like `seimlip analyze` writes for bulk LiF runs (region "all")."""
    folder.mkdir(parents=True, exist_ok=True)
    points = []
    for t in temps:
        d = Quantity(d_at(t, d_ref), rel * d_at(t, d_ref), "m2/s", "MSD, kinisi Bayesian regression",
                     {"region": "all", "temperature_K": t})
        points.append(d)
        AnalysisResult("diffusion", {
            "li_diffusivity": [d],
            "li_conductivity": [
                Quantity(2e-6, 2e-7, "S/m", "Nernst-Einstein", {"temperature_K": t}),
                Quantity(3e-6, 3e-6, "S/m", "Einstein-Helfand (collective MSD, block average)",
                         {"temperature_K": t, "blocks": 5})],
            "haven_ratio": Quantity(0.7, 0.7, "1", "D* / D_sigma", {"temperature_K": t}),
            "li_concentration": Quantity(15.0, 0.3, "mol/m3", "N_Li / (N_A V)", {"temperature_K": t}),
        }, provenance={**PROV, "run": f"runs/LiF_T{t:g}", "temperature_K": t,
                       "time_window_ps": [0.0, 100.0]}).save(folder / f"LiF_T{t:g}" / "diffusion.json")
    meta = {"temperature_K": temps[0], "system": "LiF", "formula_unit": "LiF", "formula_units": 32}
    AnalysisResult("density", {
        "density": Quantity(2640.0, 5.0, "kg/m3", "NPT mean volume", dict(meta)),
        "partial_molar_volume": Quantity(9.8e-6, 2e-8, "m3/mol", "V N_A / n_formula_units", dict(meta)),
        "li_to_sei_ratio": Quantity(1.0, 0.0, "1", "stoichiometry of formula_unit", dict(meta)),
    }, provenance={**PROV, "run": f"runs/LiF_T{temps[0]:g}"}).save(folder / "LiF_T500" / "density.json")
    if arrhenius:
        ea = Quantity(EA, 2e3, "J/mol", "weighted least squares of ln D vs 1/T",
                      {"of": "li_diffusivity", "system": "LiF", "temperatures_K": list(temps)})
        AnalysisResult("arrhenius", {"activation_energy": ea, "li_diffusivity": points},
                       provenance={"system": "LiF", "runs": [f"runs/LiF_T{t:g}" for t in temps],
                                   "temperatures_K": list(temps)}).save(folder / "arrhenius_LiF.json")
    return folder


def lif_transport(**overrides) -> dict:
    config = {"protocol": "li_transport", "model": "li-ec-gfn1", "engine": "lammps", "seed": 3,
              "temperatures_K": [600, 800], "timestep_fs": 1.0,
              "systems": [{"phase": "LiF", "repeat": [2, 2, 2]}],
              "steps": {"minimise": 20, "equilibrate": 40, "production": 60},
              "intervals": {"thermo": 10, "dump": 10, "restart": 30}}
    config.update(overrides)
    return config


def assert_continuous(steps, spacing: int, count: int) -> None:
    steps = np.asarray(steps, dtype=int)
    assert len(steps) == count, steps
    assert np.all(np.diff(steps) == spacing), steps
    assert steps[0] == 0


#: the quickstart on a config small enough for a (slow) test: one AL iteration, short MD, one EOS
QUICKSTART_REDUCED = {
    "seed": 0,
    "al_iterations": 1,
    "campaign": {
        "initial_max_frames": 24, "test_max_frames": 16,
        "exploration": {"steps": 120, "interval": 10, "systems": [{
            "name": "interface_100",
            "build": {"builder": "interface", "face": "100", "size": [2, 2], "layers": 2, "n_solvent": 2,
                      "solvent": {"EC": 1.0}, "molarity": 0.0, "gap": 2.0},
            "temperatures": [500]}]},
        "selection": {"budget": 4},
        "training": {"initial_epochs": 4, "epochs": 2},
    },
    "sei_formation": {"system": {"size": [2, 2], "layers": 3, "n_solvent": 4},
                      "steps": {"minimise": 50, "equilibrate": 40, "production": 100},
                      "intervals": {"thermo": 10, "dump": 5, "restart": 50}},
    "li_transport": {"steps": {"minimise": 20, "equilibrate": 40, "production": 200},
                     "intervals": {"thermo": 10, "dump": 10, "restart": 40}},
    "validation": {"checks": ["eos", "stability"], "eos": {"phases": ["LiF"]},
                   "stability": {"phases": ["LiF"], "temperatures_K": [600.0], "melt_fractions": [], "time_ps": 0.2}},
    "allow_unvalidated": True,  # the shipped model fails validation: export anyway, marked
    "export": {"sei_phase": "LiF", "check": {"cycles": 1}},
}


def write_plain_extxyz(path, frames):
    """``frames`` as ASE writes extxyz (labels where ASE puts them), for reader tests."""
    import ase.io

    ase.io.write(str(path), frames, format="extxyz")
    return path


def run_cli(args, capsys) -> tuple[int, str]:
    """``seimlip ARGS`` in-process as the console script runs it: (exit status, stdout + stderr)."""
    from active_learning.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    cap = capsys.readouterr()
    return code, cap.out + cap.err
