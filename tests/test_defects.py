"""Point-defect builder: the holes it finds are the known interstitial sites, the cells stay
neutral with the right composition, a Frenkel pair is separated, and rattling keeps working."""

import numpy as np
import pytest

from md_runs.builders import build_from_spec, interstitial_sites, sei_defect, sei_phase


def test_holes_are_the_known_interstitial_sites():
    lif = interstitial_sites(sei_phase("LiF"))  # rocksalt: the 8 tetrahedral sites (1/4 1/4 1/4)
    assert len(lif) == 8 and np.allclose(np.sort(np.unique(lif.round(3))), [0.25, 0.75])
    li2o = interstitial_sites(sei_phase("Li2O"))  # antifluorite: the 4 empty octahedral sites
    assert len(li2o) == 4
    assert any(np.allclose(s, [0.5, 0.5, 0.5]) for s in li2o)


@pytest.mark.parametrize("defect,dn", [("vacancy", -1), ("interstitial", 1), ("frenkel", 0)])
def test_defect_composition_and_neutrality(defect, dn):
    perfect = sei_phase("LiF", (2, 2, 2))
    atoms = sei_defect("LiF", (2, 2, 2), defect, seed=2)
    n_li = atoms.get_chemical_symbols().count("Li")
    assert n_li == perfect.get_chemical_symbols().count("Li") + dn
    assert atoms.get_chemical_symbols().count("F") == 32
    assert atoms.info["charge"] == 0 and atoms.info["defect"] == defect


def test_frenkel_pair_is_separated_and_seeded():
    a = sei_defect("LiF", (3, 3, 3), "frenkel", seed=5)
    b = sei_defect("LiF", (3, 3, 3), "frenkel", seed=5)
    assert np.allclose(a.positions, b.positions)
    d = a.get_distance(a.info["defect_index"], 0, mic=True)  # any atom: just finite
    assert np.isfinite(d)
    vac = np.array(a.info["vacancy_position"])
    from ase.geometry import get_distances

    _, dist = get_distances(a.positions[a.info["defect_index"]], vac, cell=a.cell, pbc=True)
    assert dist[0, 0] >= 4.0


def test_spec_with_rattle_and_strain_keeps_the_defect_thresholds():
    atoms = build_from_spec({"builder": "sei_defect", "name": "Li2O", "repeat": [2, 2, 2], "defect": "interstitial",
                             "seed": 1, "rattle": 0.05, "strain": 0.03, "config_type": "sei_li2o_defect"})
    assert len(atoms) == 97 and atoms.info["config_type"] == "sei_li2o_defect"


@pytest.mark.parametrize("phase,strain", [("LiF", 0.006), ("Li2O", -0.005)])
def test_sei_li_interface_is_commensurate_and_clear(phase, strain):
    from ase.neighborlist import neighbor_list

    from md_runs.builders import sei_li_interface

    atoms = sei_li_interface(phase)
    assert abs(atoms.info["film_strain"] - strain) < 1e-3
    n_metal = atoms.info["n_li_metal"]
    assert atoms.get_chemical_symbols()[:n_metal] == ["Li"] * n_metal
    film_z = atoms.positions[n_metal:, 2].min()
    assert film_z - atoms.positions[:n_metal, 2].max() == pytest.approx(2.2)
    i, j, d = neighbor_list("ijd", atoms, 1.9)
    assert len(d) == 0  # nothing closer than 1.9 Å
