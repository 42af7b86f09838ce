"""The potential: the model contract (tests/model_contract.py) over several configs, and what is
particular to seimlip's Potential (state versions, presets, ZBL)."""

import numpy as np
import pytest
import torch
from ase import Atoms

from mlip.data.graph import atoms_to_graph
from mlip.errors import UserError
from mlip.model import ModelConfig, Potential, build_model, energy_forces_stress

from helpers import E0, SPECIES, small_model
from model_contract import BaseEnergyModelTests, efs

CUTOFF = 4.0
# the configs every contract check runs on: degrees, body orders, readout heads, ZBL, dtypes
CONFIGS = {
    "l0-corr1": dict(l_max=0, sh_lmax=1, correlation=1),
    "l1-corr2": dict(l_max=1, correlation=2),
    "l2-corr3": dict(l_max=2, sh_lmax=2, correlation=3),
    "heads3": dict(readout_heads=3),
    "zbl": dict(zbl=True),
    "float32": dict(dtype="float32"),
}


def _config(**kw):
    return ModelConfig.preset("small", cutoff=CUTOFF, dtype="float64", channels=8, avg_num_neighbors=10.0, **kw)


def contract_model(seed=0, **config):
    """A small potential whose every weight is moved off its initial value (path weights start at one)."""
    model = small_model(seed, cutoff=CUTOFF, scale=0.7, shift=-0.1, avg_num_neighbors=10.0, **config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.0 + 0.1 * torch.randn_like(p))
    return model


class TestPotential(BaseEnergyModelTests):
    @pytest.fixture(scope="class", params=list(CONFIGS), ids=list(CONFIGS))
    @classmethod
    def model(cls, request):
        return contract_model(**CONFIGS[request.param])


def test_heads_are_the_models_output_and_forces_those_of_their_mean():
    model = contract_model(readout_heads=3)
    g = atoms_to_graph(Atoms("LiOCH", positions=np.eye(4, 3) * 1.4), SPECIES, CUTOFF)
    heads = model(g.species, g.edge_index, g.edge_vectors())
    out = energy_forces_stress(model, g)
    assert heads.shape == (4, 3) and float(heads.std(1).max()) > 0
    torch.testing.assert_close(out["node_energy"], heads.mean(1))
    torch.testing.assert_close(out["head_node_dev"], heads - heads.mean(1, keepdim=True))


def test_state_of_another_version_is_a_user_error():
    state = contract_model().to_state()
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
        return efs(model, Atoms("CO", positions=[[0, 0, 0], [r, 0, 0]]))[0]

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
