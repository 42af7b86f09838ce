"""The potential: symmetry, derivatives, smoothness, periodicity, TorchScript, state, ZBL."""

import io

import numpy as np
import pytest
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

from mlip.data.graph import atoms_to_graph, collate
from mlip.data.species import DEFAULT_SPECIES
from mlip.errors import UserError
from mlip.model import ModelConfig, Potential, build_model, energy_forces_stress

SPECIES = list(DEFAULT_SPECIES)
CUTOFF = 4.0
E0 = {"H": -13.6, "Li": -5.3, "C": -48.0, "O": -75.0, "F": -99.0, "P": -170.0}


def _config(**kw):
    return ModelConfig.preset("small", cutoff=CUTOFF, dtype="float64", channels=8, avg_num_neighbors=10.0, **kw)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_model(_config(), SPECIES, E0, scale=0.7, shift=-0.1)
    # move every weight off its initial value (e.g. the path weights start at one)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(1.0 + 0.1 * torch.randn_like(p))
    return m.eval()


def _cluster(n=9, seed=0, box=4.5):
    rng = np.random.default_rng(seed)
    pos = []
    while len(pos) < n:
        x = rng.random(3) * box
        if all(np.linalg.norm(x - p) > 1.0 for p in pos):
            pos.append(x)
    symbols = [SPECIES[k % len(SPECIES)] for k in range(n)]
    return Atoms(symbols, positions=pos)


def _periodic(seed=3):
    rng = np.random.default_rng(seed)
    cell = np.array([[3.1, 0.0, 0.0], [0.6, 3.3, 0.0], [0.4, -0.5, 3.2]])
    frac = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.1], [0.2, 0.7, 0.6], [0.8, 0.25, 0.5]])
    atoms = Atoms("LiOCH", scaled_positions=frac + rng.normal(0, 0.03, frac.shape), cell=cell, pbc=True)
    return atoms


def _efs(model, atoms):
    out = energy_forces_stress(model, atoms_to_graph(atoms, SPECIES, model.cutoff))
    return out["energy"][0].item(), out["forces"].numpy(), out["stress"][0].numpy()


def _voigt_to_matrix(s):
    return np.array([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])


def _close(a, b, rtol=1e-6):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(np.abs(b).max(), 1e-3)
    assert np.abs(a - b).max() <= rtol * scale, (np.abs(a - b).max(), scale)


@pytest.mark.parametrize("improper", [False, True])
def test_invariance_equivariance_cluster(model, improper):
    atoms = _cluster()
    e, f, _ = _efs(model, atoms)
    assert np.abs(f).max() > 1e-3  # a test of something
    rot = Rotation.random(random_state=7).as_matrix()
    if improper:
        rot = -rot  # rotation times inversion: a reflection
    moved = atoms.copy()
    moved.positions = atoms.positions @ rot.T + np.array([1.3, -2.0, 0.7])
    perm = np.random.default_rng(5).permutation(len(atoms))
    moved = moved[perm]
    e2, f2, _ = _efs(model, moved)
    _close(e2, e)
    _close(f2, (f @ rot.T)[perm])


def test_invariance_equivariance_periodic_with_stress(model):
    atoms = _periodic()
    e, f, s = _efs(model, atoms)
    rot = Rotation.random(random_state=11).as_matrix()
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ rot.T, scale_atoms=False)
    moved.positions = atoms.positions @ rot.T + 0.37
    e2, f2, s2 = _efs(model, moved)
    _close(e2, e)
    _close(f2, f @ rot.T)
    _close(_voigt_to_matrix(s2), rot @ _voigt_to_matrix(s) @ rot.T)
    # a mirror plane
    mirror = np.diag([1.0, -1.0, 1.0])
    moved.set_cell(atoms.cell.array @ mirror, scale_atoms=False)
    moved.positions = atoms.positions @ mirror
    e3, f3, _ = _efs(model, moved)
    _close(e3, e)
    _close(f3, f @ mirror)


def test_forces_are_energy_gradient(model):
    atoms = _periodic()
    atoms.rattle(0.1, seed=4)
    e, f, _ = _efs(model, atoms)
    h = 1e-5
    for a, k in [(0, 0), (1, 2), (2, 1), (3, 0), (3, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[a, k] += h
        minus.positions[a, k] -= h
        fd = -(_efs(model, plus)[0] - _efs(model, minus)[0]) / (2 * h)
        assert abs(fd - f[a, k]) <= 1e-6 * max(np.abs(f).max(), 1e-3), (a, k, fd, f[a, k])


def test_stress_is_strain_derivative(model):
    atoms = _periodic()
    _, _, s = _efs(model, atoms)
    assert np.abs(s).max() > 1e-4
    volume = atoms.get_volume()
    h = 1e-5
    for v, (a, b) in enumerate([(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]):
        energies = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[a, b] += sign * h / (1 if a == b else 2)
            eps[b, a] += sign * h / 2 if a != b else 0.0
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + eps).T, scale_atoms=True)
            energies.append(_efs(model, strained)[0])
        fd = (energies[0] - energies[1]) / (2 * h) / volume
        assert abs(fd - s[v]) <= 1e-6 * np.abs(s).max(), (v, fd, s[v])


def test_energy_smooth_across_cutoff(model):
    # a probe atom P on the x axis whose only neighbour near the cutoff is the atom at the origin
    cluster = Atoms("LiCH", positions=[[0, 0, 0], [-1.2, 0.3, 0.0], [-0.5, -1.1, 0.4]])

    def efx(d):
        e, f, _ = _efs(model, cluster + Atoms("O", positions=[[d, 0.0, 0.0]]))
        return e, f[-1, 0]

    e_out, f_out = efx(CUTOFF + 1e-3)
    assert f_out == 0.0 and abs(efx(CUTOFF + 0.3)[0] - e_out) < 1e-12  # nothing beyond the cutoff
    assert abs(efx(CUTOFF - 0.5)[0] - e_out) > 1e-4  # but it interacts inside
    # approaching the cutoff from inside, the energy change vanishes at least like delta^3 and the
    # force like delta^2 (envelope ~ delta^3, times Bessel functions ~ delta): value and slope are
    # continuous. A hard cutoff gives ratios ~1 below, a merely continuous one 4 and 1.
    (e1, f1), (e2, f2) = efx(CUTOFF - 0.04), efx(CUTOFF - 0.01)
    de1, de2 = e1 - e_out, e2 - e_out
    assert abs(de2) < 1e-6 and abs(f2) < 1e-4
    assert de1 / de2 > 40, (de1, de2)  # 4^3 = 64
    assert f1 / f2 > 10, (f1, f2)  # 4^2 = 16


def test_supercell_gives_eight_times_energy(model):
    atoms = _periodic()
    e, f, s = _efs(model, atoms)
    big = atoms * (2, 2, 2)
    e8, f8, s8 = _efs(model, big)
    _close(e8, 8 * e)
    _close(f8, np.tile(f, (8, 1)))
    _close(s8, s)


def test_batch_matches_single_graphs(model):
    graphs = [atoms_to_graph(a, SPECIES, CUTOFF) for a in (_cluster(), _periodic(), _cluster(n=3, seed=9))]
    out = energy_forces_stress(model, collate(graphs))
    singles = [energy_forces_stress(model, g) for g in graphs]
    _close(out["energy"].numpy(), torch.cat([s["energy"] for s in singles]).numpy(), 1e-10)
    _close(out["forces"].numpy(), torch.cat([s["forces"] for s in singles]).numpy(), 1e-10)
    _close(out["stress"].numpy(), torch.cat([s["stress"] for s in singles]).numpy(), 1e-10)
    assert torch.all(out["stress"][0] == 0)  # open structure: no volume, no stress
    assert out["node_energy"].shape == (sum(g.num_atoms for g in graphs),)


def test_training_mode_backpropagates_force_loss(model):
    g = atoms_to_graph(_periodic(), SPECIES, CUTOFF)
    out = energy_forces_stress(model, g, training=True)
    loss = out["energy"].pow(2).sum() + out["forces"].pow(2).sum() + out["stress"].pow(2).sum()
    loss.backward()
    # every parameter takes part (DDP without find_unused_parameters needs that)
    unused = [name for name, p in model.named_parameters() if p.grad is None]
    assert not unused
    assert all(p.grad.abs().sum() > 0 for p in model.radial.parameters())
    model.zero_grad(set_to_none=True)
    assert not energy_forces_stress(model, g)["forces"].requires_grad


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_torchscript_matches_eager(model):
    scripted = torch.jit.script(model)
    g = atoms_to_graph(_periodic(), SPECIES, CUTOFF)
    vec = g.edge_vectors()
    assert torch.equal(scripted(g.species, g.edge_index, vec), model(g.species, g.edge_index, vec))
    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    buf.seek(0)
    loaded = torch.jit.load(buf)
    assert torch.allclose(loaded(g.species, g.edge_index, vec), model(g.species, g.edge_index, vec), rtol=0, atol=1e-12)
    assert loaded.cutoff == CUTOFF and list(loaded.species) == SPECIES
    out = energy_forces_stress(loaded, g)
    _close(out["forces"].numpy(), energy_forces_stress(model, g)["forces"].numpy(), 1e-10)


def test_state_round_trip_is_exact(model, tmp_path):
    state = model.to_state()
    torch.save(state, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=True)
    clone = Potential.from_state(loaded)
    g = atoms_to_graph(_cluster(), SPECIES, CUTOFF)
    vec = g.edge_vectors()
    assert torch.equal(clone(g.species, g.edge_index, vec), model(g.species, g.edge_index, vec))
    assert clone.species == model.species and clone.config == model.config


def test_state_of_another_version_is_a_user_error(model):
    state = model.to_state()
    state["format_version"] = 999
    with pytest.raises(UserError, match="format version"):
        Potential.from_state(state)
    with pytest.raises(UserError):
        Potential.from_state({"weights": 1})


def test_default_dtype_and_presets():
    cfg = ModelConfig.preset("small")
    assert cfg.dtype == "float32"
    m = build_model(cfg.model_copy(update={"channels": 4}), ["H", "O"], {"H": -1.0, "O": -2.0})
    assert all(p.dtype == torch.float32 for p in m.parameters())
    g = atoms_to_graph(Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]), ["H", "O"], m.cutoff)
    out = energy_forces_stress(m, g)
    assert out["energy"].dtype == torch.float32 and torch.isfinite(out["forces"]).all()
    assert ModelConfig.preset("medium").channels > cfg.channels
    with pytest.raises(UserError, match="preset"):
        ModelConfig.preset("huge")
    with pytest.raises(UserError, match="l_max"):
        ModelConfig.preset("small", l_max=3, sh_lmax=2)
    with pytest.raises(UserError, match="species"):
        build_model(cfg, ["H"], {"Xe": 1.0})


def test_zbl_repulsion_rises_steeply():
    torch.manual_seed(1)
    plain = build_model(_config(), SPECIES, E0)
    torch.manual_seed(1)
    with_zbl = build_model(_config(zbl=True), SPECIES, E0)

    def dimer(model, r):
        return _efs(model, Atoms("CO", positions=[[0, 0, 0], [r, 0, 0]]))[0]

    rs = [0.2, 0.3, 0.4, 0.5, 0.6]
    rep = np.array([dimer(with_zbl, r) - dimer(plain, r) for r in rs])
    assert rep[0] > 500.0 and np.all(np.diff(rep) < 0)  # hundreds of eV at 0.2 Å, falling with r
    assert rep[0] / rep[-1] > 8  # steeper than bare Coulomb (3x from 0.6 to 0.2 Å)
    # with a small learned part (a network not told anything about such contacts) the total
    # energy rises monotonically as the atoms approach
    torch.manual_seed(1)
    tame = build_model(_config(zbl=True), SPECIES, E0, scale=1e-3)
    e = np.array([dimer(tame, r) for r in rs])
    assert np.all(np.diff(e) < 0), e
    # switched off at bonding distances: C-O covalent radii 0.76 + 0.66 Å
    assert abs(dimer(with_zbl, 1.45) - dimer(plain, 1.45)) < 1e-12


def test_isolated_atoms_and_slab(model):
    lone = energy_forces_stress(model, atoms_to_graph(Atoms("Li"), SPECIES, CUTOFF))
    far = energy_forces_stress(model, atoms_to_graph(Atoms("LiLi", positions=[[0, 0, 0], [9, 0, 0]]), SPECIES, CUTOFF))
    assert lone["forces"].abs().max() == 0 and far["forces"].abs().max() == 0
    assert abs(far["energy"].item() - 2 * lone["energy"].item()) < 1e-12
    slab = _periodic()
    slab.pbc = [True, True, False]  # open along z: fewer neighbours, different energy
    e_slab, f_slab, _ = _efs(model, slab)
    e_bulk, _, _ = _efs(model, _periodic())
    assert abs(e_slab - e_bulk) > 1e-6 and np.isfinite(f_slab).all()
    assert abs(f_slab.sum(0)).max() < 1e-10  # no net force
