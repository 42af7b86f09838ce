"""The per-layer methods of a deployed layered potential (mlip.deploy.halo), driven as LAMMPS'
halo exchange drives them, against the ASE calculator: the same algorithm as the plugin's
``graph halo`` (seimlip_model.cpp), with the MPI ranks emulated in Python on a split cell."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlip.deploy import load_calculator
from mlip.deploy.exporter import build_deployed

from helpers import li_ec_cell, small_model


def _rank_graphs(atoms, cutoff, n_ranks, species_index):
    """Per emulated rank: owned atoms (a slab of the cell in fractional x) as edge centres, ghost
    copies (an atom and a periodic shift) of every neighbour that is not an owned atom itself."""
    from vesin import NeighborList

    pos, cell = atoms.get_positions(), atoms.cell.array
    i, j, shifts = NeighborList(cutoff=cutoff, full_list=True).compute(points=pos, box=cell, periodic=True,
                                                                        quantities="ijS")
    owner = np.minimum((atoms.get_scaled_positions()[:, 0] * n_ranks).astype(int), n_ranks - 1)
    ranks = []
    for p in range(n_ranks):
        owned = np.flatnonzero(owner == p)
        node = {(int(a), 0, 0, 0): k for k, a in enumerate(owned)}
        atom_of = list(owned)
        ei, ej = [], []
        for a, b, s in zip(i, j, shifts):
            if owner[a] != p:
                continue
            key = (int(b), *map(int, s))
            if key not in node:
                node[key] = len(atom_of)
                atom_of.append(int(b))
            ei.append(node[(int(a), 0, 0, 0)])
            ej.append(node[key])
        sel = owner[i] == p
        vec = pos[j[sel]] - pos[i[sel]] + shifts[sel] @ cell
        ranks.append({"n_own": len(owned), "atom_of": np.array(atom_of), "species": torch.tensor(species_index[atom_of]),
                      "edge_index": torch.tensor(np.stack([ei, ej])), "edge_vec": torch.tensor(vec)})
    return ranks, owner


def _row_of(ranks):
    """(rank, row) of every atom's owned row."""
    out = {}
    for p, r in enumerate(ranks):
        for k in range(r["n_own"]):
            out[int(r["atom_of"][k])] = (p, k)
    return out


def halo_pass(module, m, ranks):
    """One member's layered pass on every rank with the exchanges between layers; per rank the
    member's output dict (as ForceStressOutput's, ``combine`` reads it)."""
    owner_row = _row_of(ranks)
    n_layers = int(module.member_layers[m])
    st = []
    for r in ranks:
        vec = r["edge_vec"].clone().requires_grad_(True)
        prep = module.halo_prepare(m, r["species"], r["edge_index"], vec, r["n_own"])
        st.append({"vec": vec, "feats": list(prep[1]), "senders": prep[2], "position": prep[3],
                   "h": module.halo_embed(m, r["species"]), "h_in": [], "h_out": [], "e": []})
    for t in range(n_layers):
        for r, s in zip(ranks, st):
            h_out, e = module.halo_layer(m, t, s["h"], r["species"], s["feats"], s["senders"], s["position"])
            s["h_in"].append(s["h"])
            s["h_out"].append(h_out)
            s["e"].append(e)
        if t < n_layers - 1:  # forward communication: ghost rows = their owners' new rows
            for r, s in zip(ranks, st):
                ghosts = [st[p]["h_out"][t][:, k] for p, k in (owner_row[int(a)] for a in r["atom_of"][r["n_own"]:])]
                rows = torch.stack(ghosts, 1) if ghosts else s["h_out"][t][:, :0]
                s["h"] = torch.cat([s["h_out"][t].detach(), rows.detach()], 1).requires_grad_(True)
    outs = []
    for r, s in zip(ranks, st):
        s["e_leaf"] = [e.detach().requires_grad_(True) for e in s["e"]]
        s["vz"] = r["edge_vec"].clone().requires_grad_(True)
        out = module.halo_energy(m, r["species"], s["e_leaf"], r["edge_index"], s["vz"])
        grads = torch.autograd.grad([out["energy"].sum()], s["e_leaf"] + [s["vz"]], allow_unused=True)
        s["g_e"], s["g_vz"] = list(grads[:-1]), grads[-1]
        s["g_feats"] = [torch.zeros_like(f) for f in s["feats"]]
        outs.append(out)
    g_h = [None] * len(ranks)
    for t in reversed(range(n_layers)):
        g_in = []
        for p, s in enumerate(st):
            outputs, grad_outputs = [s["e"][t]], [s["g_e"][t]]
            if t < n_layers - 1:
                outputs.append(s["h_out"][t])
                grad_outputs.append(g_h[p])
            inputs = s["feats"] + ([s["h_in"][t]] if t > 0 else [])
            grads = torch.autograd.grad(outputs, inputs, grad_outputs, allow_unused=True)
            for k, g in enumerate(grads[:len(s["feats"])]):
                if g is not None:
                    s["g_feats"][k] = s["g_feats"][k] + g
            if t > 0:
                g_in.append(grads[-1])
        if t > 0:  # reverse communication: ghost rows' gradients summed onto their owners
            g_h = [g[:, :r["n_own"]].clone() for g, r in zip(g_in, ranks)]
            for g, r in zip(g_in, ranks):
                for row, a in enumerate(r["atom_of"][r["n_own"]:]):
                    p, k = owner_row[int(a)]
                    g_h[p][:, k] += g[:, r["n_own"] + row]
    for r, s, out in zip(ranks, st, outs):
        (g_vec,) = torch.autograd.grad(s["feats"], [s["vec"]], s["g_feats"], allow_unused=True)
        g_vec = torch.zeros_like(s["vec"]) if g_vec is None else g_vec
        if s["g_vz"] is not None:
            g_vec = g_vec + s["g_vz"]
        forces, virial = module.halo_forces(r["edge_index"], r["edge_vec"], g_vec, len(r["atom_of"]))
        out.update({"forces": forces, "virial": virial})
    return [{k: v.detach() for k, v in o.items()} for o in outs]


def halo_results(module, atoms, cutoff, species, n_ranks):
    """Energy, forces, virial (LAMMPS order), per-atom energies and, with uncertainty, force
    deviation / per-atom energy spread, assembled from every emulated rank."""
    index = np.array([species.index(s) for s in atoms.get_chemical_symbols()])
    ranks, owner = _rank_graphs(atoms, cutoff, n_ranks, index)
    n = len(atoms)
    member_outs = [halo_pass(module, m, ranks) for m in range(int(module.n_members))]
    res = {"energy": 0.0, "virial": np.zeros(6), "energies": np.zeros(n), "atom_energy_std": np.zeros(n)}
    member_forces = np.zeros((len(member_outs), n, 3))
    for p, r in enumerate(ranks):
        comb = module.combine([outs[p] for outs in member_outs], r["n_own"])
        res["energy"] += float(comb["energy"])
        res["virial"] += comb["virial"].numpy()
        own = r["atom_of"][:r["n_own"]]
        res["energies"][own] = comb["node_energy"].numpy()
        if "atom_energy_std" in comb:
            res["atom_energy_std"][own] = comb["atom_energy_std"].numpy()
        for k, outs in enumerate(member_outs):
            np.add.at(member_forces[k], r["atom_of"], outs[p]["forces"].numpy())  # ghosts to owners
    res["forces"] = member_forces.mean(0)
    res["force_dev"] = np.sqrt(((member_forces - res["forces"]) ** 2).sum(2).mean(0))
    return res


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("case", ["l2", "heads", "committee_zbl"])
@pytest.mark.parametrize("n_ranks", [1, 3])
def test_halo_methods_equal_the_calculator(case, n_ranks):
    kw = {"l2": dict(l_max=2, n_interactions=2), "heads": dict(l_max=1, n_interactions=3, readout_heads=3),
          "committee_zbl": dict(l_max=1, n_interactions=2, zbl=True)}[case]
    models = [small_model(0, **kw)] + ([small_model(1, **kw)] if case.startswith("committee") else [])
    module, meta = build_deployed(models if len(models) > 1 else models[0])
    assert meta["halo_exchange"] and meta["format_version"] == 2
    atoms = li_ec_cell(seed=2).repeat((2, 1, 1))
    ref = load_calculator(models if len(models) > 1 else models[0], device="cpu")
    ref.calculate(atoms, ["energy", "forces", "stress"])
    got = halo_results(module, atoms, meta["cutoff"], meta["species"], n_ranks)
    virial = -ref.results["stress"][[0, 1, 2, 5, 4, 3]] * atoms.get_volume()
    assert rel(got["energy"], ref.results["energy"]) < 1e-12
    assert rel(got["forces"], ref.results["forces"]) < 1e-10
    assert rel(got["virial"], virial) < 1e-10
    assert rel(got["energies"], ref.results["energies"]) < 1e-10
    if case == "heads":
        assert rel(got["atom_energy_std"], ref.results["atom_energy_std"]) < 1e-10
    if len(models) > 1:
        assert rel(got["force_dev"], ref.results["force_dev"]) < 1e-10
