"""Per-frame label weights (MACE's config_*_weight keys): a zero weight keeps a label out of the
loss and out of the E0 fit, a fractional one scales it; collate keeps them per frame."""

import numpy as np
import pytest
import torch
from ase import Atoms

from mlip.data.graph import atoms_to_graph, collate
from mlip.data.stats import fit_reference_energies
from mlip.errors import UserError
from mlip.train.loss import loss_terms

SPECIES = ["H", "Li"]


def _frame(energy, shift=0.0, **weights):
    atoms = Atoms("LiH", positions=[[0, 0, 0], [1.6 + shift, 0, 0]], cell=[6, 6, 6], pbc=True)
    atoms.info["energy"] = energy
    atoms.info["stress"] = np.full(6, 0.01)
    atoms.arrays["forces"] = np.array([[0.1, 0, 0], [-0.1, 0, 0]])
    atoms.info.update(weights)
    return atoms


def _pred(graph):
    return {"energy": torch.zeros(graph.num_graphs, dtype=torch.float64),
            "forces": torch.zeros(graph.num_atoms, 3, dtype=torch.float64),
            "stress": torch.zeros(graph.num_graphs, 6, dtype=torch.float64)}


def _terms(frames):
    graph = collate([atoms_to_graph(a, SPECIES, 3.0) for a in frames])
    return {k: (float(s), float(c)) for k, (s, c) in loss_terms(_pred(graph), graph).items()}


def test_zero_weight_frame_leaves_energy_and_stress_terms_unchanged():
    good = _frame(-1.0)
    alone = _terms([good])
    bad = _frame(-500.0, shift=0.1, config_energy_weight=0.0, config_stress_weight=0.0)
    both = _terms([good, bad])
    assert both["energy"] == pytest.approx(alone["energy"])
    assert both["stress"] == pytest.approx(alone["stress"])
    # its forces still count: twice the items and twice the sum
    assert both["forces"][1] == 2 * alone["forces"][1]
    assert both["forces"][0] == pytest.approx(2 * alone["forces"][0])
    # without the weights the wrong energy dominates
    unweighted = _terms([good, _frame(-500.0, shift=0.1)])
    assert unweighted["energy"][0] > 1000 * alone["energy"][0]


def test_fractional_weight_scales_the_penalty():
    one = _terms([_frame(-1.0)])
    half = _terms([_frame(-1.0, config_energy_weight=0.5, config_forces_weight=0.25)])
    assert half["energy"][0] == pytest.approx(0.5 * one["energy"][0])
    assert half["forces"][0] == pytest.approx(0.25 * one["forces"][0])
    assert half["energy"][1] == one["energy"][1]


def test_e0_fit_ignores_zero_energy_weight_frames():
    frames = [_frame(-2.0), _frame(-2.0, shift=0.2), _frame(-900.0, config_energy_weight=0.0)]
    e0 = fit_reference_energies(frames, SPECIES)
    assert e0["H"] + e0["Li"] == pytest.approx(-2.0)


def test_negative_weight_is_a_user_error():
    with pytest.raises(UserError, match="label weights"):
        atoms_to_graph(_frame(-1.0, config_energy_weight=-1.0), SPECIES, 3.0)


def test_metrics_leave_out_labels_with_zero_weight():
    """An unconverged energy (weight 0) is not judged: the energy MAE of training's validation and
    of `seimlip eval` counts only frames whose energy is a reference value; forces still count."""
    from mlip.train.metrics import frame_error_sums, frame_sums_from_predictions, metrics_from_sums

    good = _frame(-1.0)
    bad = _frame(-500.0, shift=0.1, config_energy_weight=0.0, config_stress_weight=0.0)
    graph = collate([atoms_to_graph(a, SPECIES, 3.0) for a in (good, bad)])
    batch = metrics_from_sums(frame_error_sums(_pred(graph), graph))
    assert batch["energy_mae_per_atom"] == pytest.approx(0.5)  # |0 - (-1)| / 2 atoms, the good frame only
    assert batch["stress_mae"] == pytest.approx(0.01)
    assert batch["force_mae"] == pytest.approx(0.4 / 12)  # both frames' forces (12 components)
    preds = [{"energy": 0.0, "forces": np.zeros((2, 3)), "stress": np.zeros(6)}] * 2
    frames = metrics_from_sums(frame_sums_from_predictions([good, bad], preds))
    assert frames == batch
