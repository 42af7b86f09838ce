"""Structure builders: geometry, density, neutrality, determinism and validation errors."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.geometry import get_distances
from ase.neighborlist import neighbor_list

from md_runs.builders import (
    FRAGMENTS,
    MOLECULE_NAMES,
    add_fragment,
    build_from_spec,
    default_density,
    electrolyte_box,
    interface,
    ledc_box,
    li_bulk,
    li_interface,
    li_defect,
    li_slab,
    molecule,
    molecule_geometry,
    rattle,
    sei_phase,
    strain,
    validate_structure,
)
from md_runs.builders.validate import density_g_cm3
from mlip.errors import UserError


def pair_distances(atoms: Atoms, a: str, b: str, cutoff: float) -> np.ndarray:
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    s = np.array(atoms.get_chemical_symbols())
    return d[(s[i] == a) & (s[j] == b)]


def layers_z(atoms: Atoms) -> np.ndarray:
    return np.unique(atoms.positions[:, 2].round(4))


def assert_common(atoms: Atoms) -> None:
    assert atoms.pbc.all() and atoms.cell.rank == 3
    assert atoms.info["charge"] == 0


# ---------------------------------------------------------------------------------------- Li metal


def test_li_bulk_nearest_neighbours_are_a_sqrt3_over_2():
    a = 3.44
    atoms = li_bulk((2, 3, 2), a=a)
    assert_common(atoms)
    assert len(atoms) == 2 * 12
    d = pair_distances(atoms, "Li", "Li", 3.2)
    assert d.min() == pytest.approx(a * np.sqrt(3) / 2, abs=1e-6)
    # 8 nearest neighbours per atom, next shell (6) at a
    assert np.sum(np.isclose(d, a * np.sqrt(3) / 2)) == 8 * len(atoms)
    assert np.sum(np.isclose(pair_distances(atoms, "Li", "Li", 3.5), a)) == 6 * len(atoms)
    assert validate_structure(atoms).density == pytest.approx(2 * 6.94 / (a**3 * 0.6022), rel=1e-3)


@pytest.mark.parametrize(("face", "spacing", "per_layer"), [("100", 3.44 / 2, 4), ("110", 3.44 / np.sqrt(2), 4),
                                                        ("111", 3.44 / (2 * np.sqrt(3)), 4)])
def test_li_slab_layers_spacing_and_vacuum(face, spacing, per_layer):
    atoms = li_slab(face, size=(2, 2), layers=5, vacuum=12.0)
    assert_common(atoms)
    z = layers_z(atoms)
    assert len(z) == 5
    assert np.allclose(np.diff(z), spacing, atol=2e-4)
    assert len(atoms) == 5 * per_layer
    thickness = z[-1] - z[0]
    cell = np.array(atoms.cell)
    assert cell[2] == pytest.approx([0, 0, thickness + 12.0], abs=1e-3)
    assert np.allclose(cell[:2, 2], 0) and np.allclose(cell[0, 1], 0)  # orthogonal, normal along z
    # the slab does not see its periodic image across the vacuum: min Li-Li is the bulk value
    assert pair_distances(atoms, "Li", "Li", 4).min() == pytest.approx(3.44 * np.sqrt(3) / 2, abs=1e-6)


def test_li_slab_rejects_bad_input():
    with pytest.raises(UserError, match="size"):
        li_slab("110", size=(2, 3))
    with pytest.raises(UserError, match="face"):
        li_slab("112")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="layers"):
        li_slab("100", layers=1)


@pytest.mark.parametrize(("defect", "removed"), [("vacancy", 1), ("divacancy", 2)])
def test_li_vacancies_in_bulk_and_in_the_top_layer_of_a_slab(defect, removed):
    bulk = li_defect(defect, repeat=(3, 3, 3), seed=4)
    assert len(bulk) == 54 - removed and bulk.info["defect"] == defect
    slab = li_defect(defect, face="100", size=(4, 4), layers=4, seed=4)
    z = layers_z(slab)
    assert np.sum(np.isclose(slab.positions[:, 2], z[-1], atol=1e-3)) == 16 - removed  # only the top layer lost atoms
    assert np.sum(np.isclose(slab.positions[:, 2], z[0], atol=1e-3)) == 16
    if defect == "divacancy":  # the two holes are nearest neighbours within the top layer (a apart on (100))
        full = li_slab("100", size=(4, 4), layers=4)
        top = full.positions[np.isclose(full.positions[:, 2], full.positions[:, 2].max())]
        kept = slab.positions[np.isclose(slab.positions[:, 2], z[-1], atol=1e-3)]
        holes = [p for p in top if np.min(np.linalg.norm(kept - p, axis=1)) > 1e-6]
        assert len(holes) == 2
        assert get_distances(holes[0], holes[1], cell=full.cell, pbc=True)[1].item() == pytest.approx(3.44)


def test_li_self_interstitial_sits_in_a_tetrahedral_hole():
    atoms = li_defect("interstitial", repeat=(3, 3, 3), seed=2)
    k = atoms.info["defect_index"]
    assert len(atoms) == 55 and k == 54
    d = np.sort(atoms.get_distances(k, range(54), mic=True))
    assert d[:4] == pytest.approx([3.44 * np.sqrt(5) / 4] * 4, abs=1e-6)  # four neighbours, then more distant
    assert d[4] > d[3] + 0.1


@pytest.mark.parametrize(("face", "layers"), [("100", 4), ("110", 4), ("111", 9)])
def test_li_adatom_sits_on_the_lattice_site_of_the_next_layer(face, layers):
    atoms = li_defect("adatom", face=face, size=(4, 4), layers=layers, seed=1)
    k = atoms.info["defect_index"]
    assert len(atoms) == len(li_slab(face, size=(4, 4), layers=layers)) + 1 and k == len(atoms) - 1
    z = layers_z(atoms[:k])
    assert atoms.positions[k, 2] - z[-1] == pytest.approx(z[-1] - z[-2], abs=1e-3)  # one layer spacing up
    d = np.sort(atoms.get_distances(k, range(k), mic=True))
    assert d[0] == pytest.approx(3.44 * np.sqrt(3) / 2, abs=1e-6)  # a bcc site: its neighbours at the bulk distance


def test_li_defect_rejects_what_has_no_meaning():
    with pytest.raises(UserError, match="adatom needs a surface"):
        li_defect("adatom")
    with pytest.raises(UserError, match="bulk defect"):
        li_defect("interstitial", face="110")
    with pytest.raises(UserError, match="defect:.*unknown|defect"):
        build_from_spec({"builder": "li_defect", "defect": "antisite"}, "plan")


# ---------------------------------------------------------------------------------------- SEI crystals


def test_lif_rocksalt():
    atoms = sei_phase("LiF", repeat=(2, 1, 1))
    assert_common(atoms)
    assert atoms.get_chemical_formula() == "F8Li8"
    assert atoms.cell.cellpar()[:3] == pytest.approx([8.06, 4.03, 4.03])
    d = pair_distances(atoms, "Li", "F", 3.0)
    assert d.min() == pytest.approx(4.03 / 2, abs=1e-6)
    assert np.sum(np.isclose(d, 4.03 / 2)) == 6 * 8  # octahedral coordination
    assert pair_distances(atoms, "Li", "Li", 3.0).min() == pytest.approx(4.03 / np.sqrt(2), abs=1e-6)
    assert validate_structure(atoms).density == pytest.approx(2.64, rel=0.02)


def test_li2o_antifluorite():
    atoms = sei_phase("Li2O")
    assert_common(atoms)
    assert atoms.get_chemical_formula() == "Li8O4"
    assert atoms.cell.cellpar() == pytest.approx([4.61, 4.61, 4.61, 90, 90, 90])
    d = pair_distances(atoms, "O", "Li", 2.5)
    assert d.min() == pytest.approx(4.61 * np.sqrt(3) / 4, abs=1e-6)
    assert len(d) == 8 * 4  # cubic O coordination by Li
    assert len(pair_distances(atoms, "Li", "O", 2.5)) == 4 * 8  # tetrahedral Li
    assert pair_distances(atoms, "Li", "Li", 3.0).min() == pytest.approx(4.61 / 2, abs=1e-6)
    assert validate_structure(atoms).density == pytest.approx(2.01, rel=0.02)


def test_li2co3_monoclinic():
    atoms = sei_phase("Li2CO3")
    assert_common(atoms)
    report = validate_structure(atoms)
    assert report.composition == {"Li": 8, "C": 4, "O": 12}  # Z = 4 Li2CO3 per conventional cell
    a, b, c, alpha, beta, gamma = atoms.cell.cellpar()
    assert [a, b, c, beta] == pytest.approx([8.36, 4.97, 6.19, 114.8], abs=1e-3)
    assert abs(report.density - 2.11) / 2.11 < 0.05
    co = pair_distances(atoms, "C", "O", 1.6)
    assert len(co) == 3 * 4  # every C in a CO3 group
    assert co.min() > 1.26 and co.max() < 1.31
    assert pair_distances(atoms, "Li", "O", 2.1).min() > 1.85
    assert len(pair_distances(atoms, "Li", "O", 2.1)) == 4 * 8  # tetrahedral Li
    with pytest.raises(UserError, match="unknown SEI phase"):
        sei_phase("LiOH")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- molecules


def test_molecule_geometries():
    pf6 = molecule_geometry("PF6")
    d = np.linalg.norm(pf6.positions[1:] - pf6.positions[0], axis=1)
    assert np.allclose(d, 1.60)
    f = pf6.positions[1:] - pf6.positions[0]
    cosines = (f @ f.T)[np.triu_indices(6, 1)] / 1.60**2
    assert np.sum(np.isclose(cosines, 0, atol=1e-9)) == 12 and np.sum(np.isclose(cosines, -1)) == 3

    ec = molecule_geometry("EC")
    assert ec.get_chemical_formula() == "C3H4O3"
    d = ec.get_all_distances()
    assert d[0, 1] == pytest.approx(1.18, abs=0.03)  # C=O
    assert d[4, 5] == pytest.approx(1.54, abs=0.04)  # C-C
    assert molecule_geometry("DMC").get_chemical_formula() == "C3H6O3"
    assert molecule_geometry("LEDC").get_chemical_formula() == "C4H4Li2O6"
    assert molecule_geometry("ring_opened_EC").get_chemical_formula() == "C3H4O3"
    co3 = molecule_geometry("CO3").get_all_distances()[0, 1:]
    assert np.allclose(co3, 1.29)
    for name in MOLECULE_NAMES:
        atoms = molecule(name)
        assert atoms.pbc.all() and atoms.cell.rank == 3
        assert atoms.info["charge"] == {"PF6": -1, "Li+": 1}.get(name, 0)


# ---------------------------------------------------------------------------------------- electrolyte


def intermolecular_min(atoms: Atoms) -> float:
    ids = atoms.arrays["mol_id"]
    i, j, d = neighbor_list("ijd", atoms, 3.0)
    other = ids[i] != ids[j]
    return float(d[other].min()) if other.any() else np.inf


def test_electrolyte_box_pure_ec():
    atoms = electrolyte_box(n_solvent=4, molarity=0.0, seed=1)
    assert_common(atoms)
    report = validate_structure(atoms)
    assert atoms.info["molecules"] == {"EC": 4}
    assert report.composition == {"H": 16, "C": 12, "O": 12}
    assert abs(report.density - 1.32) / 1.32 < 0.05
    assert np.allclose(atoms.cell.cellpar()[3:], 90) and np.ptp(atoms.cell.lengths()) < 1e-9  # cubic
    assert intermolecular_min(atoms) > 1.9  # packmol tolerance 2.0 Å


def test_electrolyte_box_with_salt_is_neutral_and_one_molar():
    atoms = electrolyte_box(n_solvent=13, seed=0)  # 1 M LiPF6 in EC by default
    report = validate_structure(atoms)
    assert atoms.info["charge"] == 0
    assert atoms.info["molecules"] == {"EC": 13, "Li+": 1, "PF6": 1}
    assert report.composition["Li"] == report.composition["P"] == 1  # Li:P 1:1 from the salt
    assert report.composition["F"] == 6
    assert report.composition["C"] == 3 * 13
    target = default_density({"EC": 1.0}, 1.0)
    assert target == pytest.approx(1.42)
    assert abs(report.density - target) / target < 0.05
    molar = 1 / (report.volume * 6.02214e-4)
    assert 0.7 < molar < 1.4  # one pair in ~1500 Å^3 is ~1.1 M
    assert intermolecular_min(atoms) > 1.9
    for key, d in report.min_distances.items():
        assert d >= {"H-H": 0.6, "C-H": 0.9, "Li-Li": 2.0}.get(key, 0.8)


def test_electrolyte_box_mixture_and_cell_xy():
    atoms = electrolyte_box(n_solvent=4, solvent={"EC": 1, "DMC": 1}, molarity=0.0, cell_xy=(7.0, 8.0), seed=2)
    assert atoms.info["molecules"] == {"EC": 2, "DMC": 2}
    assert atoms.cell.cellpar()[:2] == pytest.approx([7.0, 8.0])
    target = (1.32 + 1.07) / 2
    assert abs(density_g_cm3(atoms) - target) / target < 0.05
    # height given instead of a molecule count: counts follow from the volume
    fixed = electrolyte_box(cell_xy=(8.0, 8.0), height=9.0, molarity=0.0, seed=2)
    assert fixed.cell.lengths() == pytest.approx([8.0, 8.0, 9.0])
    assert abs(density_g_cm3(fixed) - 1.32) / 1.32 < 0.2  # whole molecules in a small box
    with pytest.raises(UserError, match="solvent"):
        electrolyte_box(n_solvent=4, solvent={"water": 1.0})


def test_electrolyte_box_is_deterministic():
    a = electrolyte_box(n_solvent=3, molarity=0.0, seed=5)
    b = electrolyte_box(n_solvent=3, molarity=0.0, seed=5)
    c = electrolyte_box(n_solvent=3, molarity=0.0, seed=6)
    assert np.array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)


def test_ledc_box():
    atoms = ledc_box(n=4, seed=0)
    report = validate_structure(atoms)
    assert report.composition == {"H": 16, "Li": 8, "C": 16, "O": 24}
    assert report.density == pytest.approx(1.6, rel=1e-6)
    assert intermolecular_min(atoms) > 1.7  # packing tolerance 1.8 Å
    small = ledc_box(seed=1)  # default: 2 folded LEDC, fits a ~7 Å box without touching its images
    assert validate_structure(small).composition == {"H": 8, "Li": 4, "C": 8, "O": 12}


# ---------------------------------------------------------------------------------------- interfaces


def test_interface_matches_slab_and_has_no_clash_across_the_gap():
    slab = li_slab("100", size=(2, 2), layers=3)
    liquid = electrolyte_box(n_solvent=4, molarity=0.0, cell_xy=tuple(slab.cell.lengths()[:2]), seed=3,
                             periodic_z=False)
    atoms = interface(slab, liquid, gap=2.5)
    assert_common(atoms)
    assert np.allclose(np.array(atoms.cell)[:2], np.array(slab.cell)[:2])
    ids = atoms.arrays["mol_id"]
    metal = ids == -1
    assert metal.sum() == len(slab) and atoms.info["molecules"] == {"EC": 4}
    _, d = get_distances(atoms.positions[metal], atoms.positions[~metal], cell=atoms.cell, pbc=True)
    assert d.min() >= 2.5 - 1e-6  # across the gap and across the periodic boundary
    # molecules are whole (no bond stretched over the cell)
    for m in np.unique(ids[~metal]):
        pos = atoms.positions[ids == m]
        assert np.ptp(pos[:, 2]) < 5.0
    validate_structure(atoms)
    with pytest.raises(UserError, match="lateral cell"):
        interface(slab, electrolyte_box(n_solvent=2, molarity=0.0, seed=0))


def test_interface_from_spec_is_deterministic():
    spec = {"builder": "interface", "face": "100", "size": [2, 2], "layers": 3, "n_solvent": 4, "seed": 3}
    a, b = build_from_spec(spec), build_from_spec(spec)
    c = build_from_spec({**spec, "seed": 4})
    assert len(a) == 12 + 4 * 10
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell, b.cell)
    assert not np.allclose(a.positions, c.positions)
    top = a.positions[a.arrays["mol_id"] == -1, 2].max()
    assert a.positions[a.arrays["mol_id"] >= 0, 2].min() == pytest.approx(top + 2.0)


def test_interface_keeps_li_ions_off_the_metal():
    atoms = li_interface("100", size=(2, 2), layers=3, n_solvent=4, molarity=3.0, seed=0)
    assert atoms.info["molecules"] == {"EC": 4, "Li+": 1, "PF6": 1}
    ids = atoms.arrays["mol_id"]
    ion = np.flatnonzero((ids >= 0) & (np.array(atoms.get_chemical_symbols()) == "Li"))
    _, d = get_distances(atoms.positions[ids == -1], atoms.positions[ion], cell=atoms.cell, pbc=True)
    assert d.min() >= 2.2 - 1e-6  # Li-Li threshold 2.0 + 0.2 margin, above the 2.0 Å gap


def test_interface_110_with_vacuum():
    atoms = li_interface("110", size=(2, 2), layers=3, n_solvent=3, molarity=0.0, vacuum=8.0, seed=1)
    z_liquid = atoms.positions[atoms.arrays["mol_id"] >= 0, 2]
    assert atoms.cell[2, 2] == pytest.approx(z_liquid.max() + 2.0 + 8.0)


# ---------------------------------------------------------------------------------------- fragments


@pytest.mark.parametrize("fragment", ["CO3", "F", "ring_opened_EC", "Li2O"])
def test_add_fragment_on_slab(fragment):
    slab = li_slab("100", size=(2, 2), layers=3)
    before = slab.positions.copy()
    out = add_fragment(slab, fragment, seed=1, height=2.0)
    assert np.array_equal(slab.positions, before) and len(slab) == 12  # input untouched
    frag = molecule_geometry(fragment)
    assert len(out) == len(slab) + len(frag)
    added = out[len(slab):]
    assert sorted(added.get_chemical_symbols()) == sorted(frag.get_chemical_symbols())
    top = slab.positions[:, 2].max()
    assert added.positions[:, 2].min() == pytest.approx(top + 2.0)
    # shape kept: same internal distances as the reference geometry
    assert np.allclose(np.sort(added.get_all_distances().ravel()), np.sort(frag.get_all_distances().ravel()))
    assert out.info["charge"] == 0 and out.info["fragments"] == [fragment]


def test_add_fragment_on_interface_makes_room():
    base = build_from_spec({"builder": "interface", "size": [2, 2], "layers": 3, "n_solvent": 4, "seed": 3})
    out = add_fragment(base, "ring_opened_EC", seed=2)
    removed = out.info["removed_molecules"]
    assert len(out) == len(base) + 10 - 10 * removed
    assert out.info["molecules"]["EC"] == 4 - removed
    validate_structure(out)
    assert set(FRAGMENTS) >= {"ring_opened_EC", "CO3", "C2H4", "F", "LiF", "Li2O"}


# ---------------------------------------------------------------------------------------- perturbations


def test_rattle_and_strain_are_seeded_copies():
    bulk = li_bulk((2, 2, 2))
    r1, r2, r3 = rattle(bulk, 0.05, seed=1), rattle(bulk, 0.05, seed=1), rattle(bulk, 0.05, seed=2)
    assert np.array_equal(r1.positions, r2.positions) and not np.allclose(r1.positions, r3.positions)
    disp = r1.positions - bulk.positions
    assert 0.03 < disp.std() < 0.07
    assert np.array_equal(bulk.positions, li_bulk((2, 2, 2)).positions)  # input untouched

    s = strain(bulk, max_strain=0.03, seed=4)
    eps = np.linalg.solve(np.array(bulk.cell), np.array(s.cell)) - np.eye(3)
    assert np.allclose(eps, eps.T, atol=1e-12) and np.abs(eps).max() <= 0.03
    assert np.allclose(s.get_scaled_positions(), bulk.get_scaled_positions())
    assert not np.allclose(s.cell, bulk.cell)
    assert np.array_equal(strain(bulk, 0.03, seed=4).cell, s.cell)


def test_volume_step_scales_isotropically_to_a_seeded_random_volume():
    cell = sei_phase("LiF")
    spec = {"builder": "sei_phase", "name": "LiF", "volume": [1.05, 1.3], "seed": 7}
    a, b, c = build_from_spec(spec), build_from_spec(spec), build_from_spec({**spec, "seed": 8})
    ratio = a.get_volume() / cell.get_volume()
    assert 1.05 <= ratio <= 1.3 and ratio == pytest.approx(a.info["volume_ratio"], abs=1e-6)
    assert np.array_equal(a.cell, b.cell) and not np.allclose(a.cell, c.cell)
    assert np.allclose(a.cell / ratio ** (1 / 3), cell.cell)  # isotropic: the shape is kept
    assert np.allclose(a.get_scaled_positions(), cell.get_scaled_positions())
    with pytest.raises(UserError, match="volume ratio range"):
        build_from_spec({**spec, "volume": [1.3, 1.05]}, "plan")


# ---------------------------------------------------------------------------------------- validation


def test_validate_structure_reports_and_rejects():
    atoms = Atoms("CH", positions=[[1, 1, 1], [1, 1, 1.5]], cell=[8, 8, 8], pbc=True)
    with pytest.raises(UserError, match=r"atoms 0 \(C\) and 1 \(H\) are 0.500 Å apart.*C-H"):
        validate_structure(atoms, where="probe")
    # across the periodic boundary (minimum image)
    wrapped = Atoms("Li2", positions=[[0.2, 4, 4], [7.5, 4, 4]], cell=[8, 8, 8], pbc=True)
    with pytest.raises(UserError, match="Li-Li"):
        validate_structure(wrapped)
    validate_structure(wrapped, min_distance={"Li-Li": 0.5})  # thresholds can be overridden
    charged = Atoms("F", positions=[[0, 0, 0]], cell=[5, 5, 5], pbc=True, info={"charge": -1})
    with pytest.raises(UserError, match="charge"):
        validate_structure(charged)
    report = validate_structure(li_bulk((1, 1, 1)))
    assert report.composition == {"Li": 2} and report.n_atoms == 2
    assert report.volume == pytest.approx(3.44**3)
    assert report.min_distances["Li-Li"] == pytest.approx(3.44 * np.sqrt(3) / 2, abs=1e-4)


def test_build_from_spec_errors_name_the_key():
    with pytest.raises(UserError, match="unknown builder 'nope'"):
        build_from_spec({"builder": "nope"})
    with pytest.raises(UserError, match="layer"):
        build_from_spec({"builder": "li_slab", "layer": 3})
    with pytest.raises(UserError, match="face"):
        build_from_spec({"builder": "li_slab", "face": "112"})
    atoms = build_from_spec({"builder": "sei_phase", "name": "LiF", "repeat": [1, 1, 2], "rattle": 0.02,
                             "config_type": "sei_lif"})
    assert len(atoms) == 16 and atoms.info["config_type"] == "sei_lif"


@pytest.mark.parametrize(
    "spec",
    [
        {"builder": "li_bulk", "repeat": [2, 2, 2]},
        {"builder": "li_slab", "face": "110", "size": [2, 2], "layers": 3, "fragments": ["F", "CO3"]},
        {"builder": "electrolyte_box", "n_solvent": 3, "molarity": 0.0, "seed": 1, "strain": 0.02},
        {"builder": "interface", "face": "110", "n_solvent": 3, "seed": 2, "fragments": ["C2H4"], "rattle": 0.03},
        {"builder": "sei_phase", "name": "Li2CO3"},
        {"builder": "ledc_box", "n": 3, "seed": 1},
        {"builder": "molecule", "name": "EC"},
    ],
)
def test_every_builder_builds_from_a_spec(spec):
    atoms = build_from_spec(spec)
    assert atoms.pbc.all() and atoms.info["charge"] == 0 and atoms.info["builder"] == spec["builder"]
    validate_structure(atoms)
