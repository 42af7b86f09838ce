"""The contract every seimlip energy model fulfils (NequIP's ``BaseEnergyModelTests`` pattern).

A test class for an architecture inherits :class:`BaseEnergyModelTests` and provides a ``model``
fixture (an eval-mode model with ``species``, ``cutoff``, ``to_state``/``from_state`` and the
``forward(species, edge_index, edge_vec) -> [N, K]`` of :class:`mlip.model.Potential`),
usually parametrised over configs. Every check runs on each config: symmetry, derivatives,
smoothness, extensivity, batching, training gradients, TorchScript, the state round trip, the
deployed file through the ASE calculator and (slow) as a torch.export program and through LAMMPS. Float32 models skip the
finite-difference checks their round-off cannot resolve.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

from mlip.data.graph import atoms_to_graph, collate
from mlip.model import energy_forces_stress

from helpers import SPECIES, li_ec_cell


def cluster(n=9, seed=0, box=4.5) -> Atoms:
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        x = rng.random(3) * box
        if all(np.linalg.norm(x - p) > 1.0 for p in pos):
            pos.append(x)
    return Atoms([SPECIES[k % len(SPECIES)] for k in range(n)], positions=pos)


def periodic(seed=3) -> Atoms:
    rng = np.random.default_rng(seed)
    cell = np.array([[3.1, 0.0, 0.0], [0.6, 3.3, 0.0], [0.4, -0.5, 3.2]])
    frac = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.1], [0.2, 0.7, 0.6], [0.8, 0.25, 0.5]])
    return Atoms("LiOCH", scaled_positions=frac + rng.normal(0, 0.03, frac.shape), cell=cell, pbc=True)


def efs(model, atoms):
    out = energy_forces_stress(model, atoms_to_graph(atoms, model.species, model.cutoff))
    return out["energy"][0].item(), out["forces"].double().numpy(), out["stress"][0].double().numpy()


def voigt_to_matrix(s):
    return np.array([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])


def is_float64(model) -> bool:
    return next(model.parameters()).dtype == torch.float64


class BaseEnergyModelTests:
    """Inherit and provide a ``model`` fixture; see the module docstring."""

    @pytest.fixture(scope="class")
    @classmethod
    def deployed(cls, model, tmp_path_factory):
        from mlip.deploy import export

        return export(model, tmp_path_factory.mktemp("contract") / "model.pt")

    def close(self, model, a, b, rtol=1e-6):
        rtol = rtol if is_float64(model) else max(rtol, 2e-4)
        a, b = np.asarray(a, float), np.asarray(b, float)
        scale = max(np.abs(b).max(), 1e-3)
        assert np.abs(a - b).max() <= rtol * scale, (np.abs(a - b).max(), scale)

    def need_float64(self, model):
        if not is_float64(model):
            pytest.skip("finite differences need float64")

    @pytest.mark.parametrize("improper", [False, True])
    def test_invariance_equivariance_cluster(self, model, improper):
        atoms = cluster()
        e, f, _ = efs(model, atoms)
        assert np.abs(f).max() > 1e-3  # a test of something
        rot = Rotation.random(random_state=7).as_matrix() * (-1 if improper else 1)  # improper: a reflection
        moved = atoms.copy()
        moved.positions = atoms.positions @ rot.T + np.array([1.3, -2.0, 0.7])
        perm = np.random.default_rng(5).permutation(len(atoms))
        e2, f2, _ = efs(model, moved[perm])
        self.close(model, e2, e)
        self.close(model, f2, (f @ rot.T)[perm])

    def test_invariance_equivariance_periodic_with_stress(self, model):
        atoms = periodic()
        e, f, s = efs(model, atoms)
        for rot in (Rotation.random(random_state=11).as_matrix(), np.diag([1.0, -1.0, 1.0])):
            moved = atoms.copy()
            moved.set_cell(atoms.cell.array @ rot.T, scale_atoms=False)
            moved.positions = atoms.positions @ rot.T + 0.37
            e2, f2, s2 = efs(model, moved)
            self.close(model, e2, e)
            self.close(model, f2, f @ rot.T)
            self.close(model, voigt_to_matrix(s2), rot @ voigt_to_matrix(s) @ rot.T)

    def test_forces_are_energy_gradient(self, model):
        self.need_float64(model)
        atoms = periodic()
        atoms.rattle(0.1, seed=4)
        _, f, _ = efs(model, atoms)
        h = 1e-5
        for a, k in [(0, 0), (1, 2), (2, 1), (3, 0), (3, 2)]:
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[a, k] += h
            minus.positions[a, k] -= h
            fd = -(efs(model, plus)[0] - efs(model, minus)[0]) / (2 * h)
            assert abs(fd - f[a, k]) <= 1e-6 * max(np.abs(f).max(), 1e-3), (a, k, fd, f[a, k])

    def test_stress_is_strain_derivative(self, model):
        self.need_float64(model)
        atoms = periodic()
        _, _, s = efs(model, atoms)
        assert np.abs(s).max() > 1e-4
        h = 1e-5
        for v, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
            energies = []
            for sign in (1, -1):
                eps = np.zeros((3, 3))
                eps[a, b] += sign * h / (1 if a == b else 2)
                eps[b, a] += sign * h / 2 if a != b else 0.0
                strained = atoms.copy()
                strained.set_cell(atoms.cell.array @ (np.eye(3) + eps).T, scale_atoms=True)
                energies.append(efs(model, strained)[0])
            fd = (energies[0] - energies[1]) / (2 * h) / atoms.get_volume()
            assert abs(fd - s[v]) <= 1e-6 * np.abs(s).max(), (v, fd, s[v])

    def test_energy_smooth_across_cutoff(self, model):
        self.need_float64(model)
        # a probe atom O on the x axis whose only neighbour near the cutoff is the atom at the origin
        probe = Atoms("LiCH", positions=[[0, 0, 0], [-1.2, 0.3, 0.0], [-0.5, -1.1, 0.4]])
        cutoff = model.cutoff

        def efx(d):
            e, f, _ = efs(model, probe + Atoms("O", positions=[[d, 0.0, 0.0]]))
            return e, f[-1, 0]

        e_out, f_out = efx(cutoff + 1e-3)
        assert f_out == 0.0 and abs(efx(cutoff + 0.3)[0] - e_out) < 1e-12  # nothing beyond the cutoff
        assert abs(efx(cutoff - 1.0)[0] - e_out) > 1e-6  # but it interacts inside
        # value and slope continuous: the energy change vanishes like delta^3, the force like delta^2
        (e1, f1), (e2, f2) = efx(cutoff - 0.02), efx(cutoff - 0.005)
        de1, de2 = e1 - e_out, e2 - e_out
        assert abs(de2) < 1e-6 and abs(f2) < 1e-4
        assert de1 / de2 > 40, (de1, de2)  # 4^3 = 64
        assert f1 / f2 > 10, (f1, f2)  # 4^2 = 16

    def test_supercell_gives_eight_times_energy(self, model):
        e, f, s = efs(model, periodic())
        e8, f8, s8 = efs(model, periodic() * (2, 2, 2))
        self.close(model, e8, 8 * e)
        self.close(model, f8, np.tile(f, (8, 1)))
        self.close(model, s8, s)

    def test_batch_matches_single_graphs(self, model):
        graphs = [atoms_to_graph(a, model.species, model.cutoff) for a in (cluster(), periodic(), cluster(3, 9))]
        out = energy_forces_stress(model, collate(graphs))
        singles = [energy_forces_stress(model, g) for g in graphs]
        for key in ("energy", "forces", "stress"):
            self.close(model, out[key].numpy(), torch.cat([s[key] for s in singles]).numpy(), 1e-10)
        assert torch.all(out["stress"][0] == 0)  # open structure: no volume, no stress
        assert out["node_energy"].shape == (sum(g.num_atoms for g in graphs),)

    def test_training_mode_backpropagates_force_loss(self, model):
        g = atoms_to_graph(periodic(), model.species, model.cutoff)
        out = energy_forces_stress(model, g, training=True)
        loss = out["energy"].pow(2).sum() + out["forces"].pow(2).sum() + out["stress"].pow(2).sum()
        loss.backward()
        # every parameter takes part (DDP without find_unused_parameters needs that)
        unused = [name for name, p in model.named_parameters() if p.grad is None]
        model.zero_grad(set_to_none=True)
        assert not unused
        assert not energy_forces_stress(model, g)["forces"].requires_grad

    @pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
    def test_torchscript_matches_eager(self, model):
        scripted = torch.jit.script(model)
        g = atoms_to_graph(periodic(), model.species, model.cutoff)
        vec = g.edge_vectors().to(next(model.parameters()).dtype)
        assert torch.equal(scripted(g.species, g.edge_index, vec), model(g.species, g.edge_index, vec))
        self.close(model, energy_forces_stress(scripted, g)["forces"].numpy(),
                   energy_forces_stress(model, g)["forces"].numpy(), 1e-10)

    def test_state_round_trip_is_exact(self, model, tmp_path):
        torch.save(model.to_state(), tmp_path / "m.pt")
        clone = type(model).from_state(torch.load(tmp_path / "m.pt", weights_only=True))
        g = atoms_to_graph(cluster(), model.species, model.cutoff)
        vec = g.edge_vectors().to(next(model.parameters()).dtype)
        assert torch.equal(clone(g.species, g.edge_index, vec), model(g.species, g.edge_index, vec))

    def test_isolated_atoms_and_slab(self, model):
        lone = efs(model, Atoms("Li"))
        far = efs(model, Atoms("LiLi", positions=[[0, 0, 0], [9, 0, 0]]))
        assert np.abs(lone[1]).max() == 0 and np.abs(far[1]).max() == 0
        assert abs(far[0] - 2 * lone[0]) < (1e-12 if is_float64(model) else 1e-4)
        slab = periodic()
        slab.pbc = [True, True, False]  # open along z: fewer neighbours, different energy
        e_slab, f_slab, _ = efs(model, slab)
        assert abs(e_slab - efs(model, periodic())[0]) > 1e-6 and np.isfinite(f_slab).all()
        assert abs(f_slab.sum(0)).max() < (1e-10 if is_float64(model) else 1e-4)  # no net force

    @pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
    def test_deployed_file_through_ase_matches_eager(self, model, deployed):
        from mlip.deploy import load_calculator

        atoms = li_ec_cell(seed=1)
        e, f, s = efs(model, atoms)
        atoms.calc = calc = load_calculator(deployed, device="cpu")
        tol = 1e-10 if is_float64(model) else 1e-5
        assert atoms.get_potential_energy() == pytest.approx(e, rel=tol)
        self.close(model, atoms.get_forces(), f, tol)
        self.close(model, atoms.get_stress(), s, tol)
        assert ("head_energy_std" in calc.results) == (getattr(model, "n_heads", 1) > 1)

    @pytest.mark.slow
    @pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
    def test_torch_export_program_matches_torchscript(self, model, deployed, tmp_path):
        from mlip.deploy import export, load_calculator

        atoms = li_ec_cell(seed=3)
        results = []
        for path in (deployed, export(model, tmp_path / "model.pt2", module_format="export")):
            calc = load_calculator(path, device="cpu")
            calc.calculate(atoms, ["energy", "forces", "stress"])
            results.append(calc.results)
        tol = 1e-12 if is_float64(model) else 1e-5
        assert results[1]["energy"] == pytest.approx(results[0]["energy"], rel=tol)
        for key in ("forces", "stress") + (("atom_energy_std",) if "atom_energy_std" in results[0] else ()):
            assert np.abs(results[1][key] - results[0][key]).max() <= tol * np.abs(results[0][key]).max()

    @pytest.mark.slow
    @pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
    def test_lammps_matches_ase(self, model, deployed, plugin):
        from md_runs.lammps import single_point
        from mlip.deploy import load_calculator

        atoms = li_ec_cell(seed=2)
        calc = load_calculator(deployed, device="cpu")
        calc.calculate(atoms, ["energy", "forces", "stress"])
        got = single_point(atoms, deployed)
        tol = 1e-12 if is_float64(model) else 1e-5
        forces = calc.results["forces"]
        assert np.abs(got["forces"] - forces).max() <= tol * np.abs(forces).max()
        assert got["energy"] == pytest.approx(calc.results["energy"], rel=tol)
        assert np.abs(got["stress"] - calc.results["stress"]).max() <= tol * np.abs(calc.results["stress"]).max()
