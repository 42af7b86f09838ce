"""Neighbour lists and atomic graphs."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

from mlip.data.graph import AtomicGraph, GraphDataset, atoms_to_graph, collate
from mlip.data.neighbors import neighbor_list
from mlip.data.species import DEFAULT_SPECIES
from mlip.errors import UserError

SPECIES = list(DEFAULT_SPECIES)


def _pairs(i, j, S):
    return sorted(zip(np.asarray(i).tolist(), np.asarray(j).tolist(), map(tuple, np.asarray(S).tolist())))


def _check_against_ase(atoms, cutoff):
    i, j, S = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    ai, aj, aS = ase_neighbor_list("ijS", atoms, cutoff, self_interaction=False)
    assert len(i) == len(ai)
    assert _pairs(i, j, S) == _pairs(ai, aj, aS)
    assert np.all(np.diff(i) >= 0), "pairs sorted by centre"
    return len(i)


def test_neighbors_match_ase_triclinic_periodic():
    rng = np.random.default_rng(0)
    cell = np.array([[5.1, 0.0, 0.0], [1.2, 4.7, 0.0], [0.7, -0.9, 5.3]])
    atoms = Atoms("LiCOHFP" * 2, scaled_positions=rng.random((12, 3)), cell=cell, pbc=True)
    atoms.positions += rng.normal(0, 2.0, (12, 3))  # some atoms outside the cell
    assert _check_against_ase(atoms, 4.0) > 0


def test_neighbors_match_ase_small_cell_many_images():
    atoms = bulk("Li", "bcc", a=3.44)  # one atom, cell far smaller than the cutoff
    n = _check_against_ase(atoms, 5.0)
    assert n == 26  # 8 + 6 + 12: the bcc shells at 2.98, 3.44 and 4.86 Å
    rng = np.random.default_rng(1)
    skew = Atoms("LiO", positions=[[0, 0, 0], [0.9, 0.4, 0.3]], cell=[[2.0, 0, 0], [0.8, 1.9, 0], [0.3, 0.5, 2.2]], pbc=True)
    skew.positions += rng.normal(0, 0.1, (2, 3))
    assert _check_against_ase(skew, 5.0) > 100


def test_neighbors_match_ase_slab_and_molecule():
    slab = fcc111("Al", size=(2, 2, 3), vacuum=6.0)  # periodic in x, y only
    assert not slab.pbc[2]
    _check_against_ase(slab, 5.0)
    mol = molecule("CH3CH2OH")
    assert _check_against_ase(mol, 2.0) > 0
    i, j, S = neighbor_list(mol.positions, np.zeros((3, 3)), False, 2.0)
    assert not S.any()


def test_atoms_to_graph_edges_and_labels():
    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    atoms.rattle(0.05, seed=2)
    atoms.info["energy"] = -3.0
    atoms.arrays["forces"] = np.ones((2, 3))
    atoms.info["stress"] = np.arange(6.0)
    atoms.info["config_type"] = "li_bulk"
    g = atoms_to_graph(atoms, SPECIES, 5.0)
    vec = g.edge_vectors()
    assert torch.all(vec.norm(dim=1) < 5.0)
    assert torch.all(vec.norm(dim=1) > 0.5)
    assert g.cell.shape == (1, 3, 3) and g.num_graphs == 1
    assert g.species.tolist() == [1, 1]
    assert g.energy.tolist() == [-3.0] and g.stress.shape == (1, 6) and g.forces.shape == (2, 3)
    assert g.config_type == ["li_bulk"]
    i, j, S = neighbor_list(atoms.positions, atoms.cell.array, True, 5.0)
    assert torch.allclose(g.shifts, torch.from_numpy(S @ atoms.cell.array).double())


def test_open_structure_has_zero_cell():
    g = atoms_to_graph(molecule("H2O"), SPECIES, 3.0)
    assert torch.all(g.cell == 0) and torch.all(g.shifts == 0)
    assert g.energy is None and g.forces is None and g.stress is None


def test_unknown_element_is_a_user_error():
    with pytest.raises(UserError, match="Na"):
        atoms_to_graph(Atoms("NaCl", positions=[[0, 0, 0], [2.5, 0, 0]]), SPECIES, 5.0)


def test_collate_offsets_and_stress_fill():
    a = molecule("H2O")
    a.info["energy"] = 1.0
    b = bulk("Li", "bcc", a=3.44, cubic=True)
    b.info["energy"] = 2.0
    b.info["stress"] = np.ones(6)
    ga, gb = atoms_to_graph(a, SPECIES, 3.0), atoms_to_graph(b, SPECIES, 4.0)
    g = collate([ga, gb])
    assert g.num_graphs == 2 and g.num_atoms == 5
    assert g.batch.tolist() == [0, 0, 0, 1, 1]
    assert g.n_atoms.tolist() == [3, 2]
    assert g.edge_index.shape[1] == ga.edge_index.shape[1] + gb.edge_index.shape[1]
    assert torch.allclose(g.edge_vectors(), torch.cat([ga.edge_vectors(), gb.edge_vectors()]))
    assert torch.isnan(g.stress[0]).all() and torch.equal(g.stress[1], torch.ones(6, dtype=torch.float64))
    assert g.energy.tolist() == [1.0, 2.0]
    assert g.forces is None
    g32 = g.to(dtype=torch.float32)
    assert g32.positions.dtype == torch.float32 and g32.species.dtype == torch.int64
    assert g32.edge_index.dtype == torch.int64 and g32.stress.dtype == torch.float32


def test_graph_dataset_with_dataloader():
    frames = [molecule("CH4"), molecule("H2O"), bulk("Li", "bcc", a=3.44)]
    ds = GraphDataset(frames, SPECIES, 4.0, dtype=torch.float32)
    assert len(ds) == 3 and isinstance(ds[0], AtomicGraph)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)
    batches = list(loader)
    assert [b.num_graphs for b in batches] == [2, 1]
    assert batches[0].positions.dtype == torch.float32
