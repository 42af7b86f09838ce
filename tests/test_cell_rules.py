"""Cell-size rules: frames below their family's converged size are tiled up to it or refused
before any oracle call; every label records the rule and the oracle's settings; a rule set is
refused for an oracle it was not measured with; `data label` exits non-zero on any failure."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from active_learning.reference_data.label import label_frames
from active_learning.oracles import TBLiteConfig
from active_learning.oracles.cell_rules import CellRules, check_oracle, load_cell_rules, prepare_frame
from md_runs.builders import li_slab, sei_phase
from mlip.data.readers import read_frames
from mlip.errors import UserError

RULES = CellRules(
    measured_with={"method": "GFN1-xTB", "electronic_temperature": 3000.0},
    rules=[
        {"match": "sei_lif*", "min_atoms": 216, "tile": True, "energy_min_atoms": None, "stress_min_atoms": 512},
        {"match": "sei_li2o*", "min_atoms": 96, "energy_min_atoms": 96, "stress_min_atoms": 300},
        {"match": "li_slab*", "min_atoms": 60, "min_width": 12.0, "tile": True, "tile_axes": [0, 1]},
        {"match": "electrolyte*", "min_atoms": 100},
        {"match": "li_bulk*", "min_atoms": 0},
    ],
)
SETTINGS = {"kind": "tblite", "method": "GFN1-xTB", "electronic_temperature": 3000.0}


def _typed(atoms, config_type):
    atoms.info["config_type"] = config_type
    return atoms


def test_crystal_is_tiled_to_its_converged_size_with_weights_and_provenance():
    lif = _typed(sei_phase("LiF"), "sei_lif")
    out = prepare_frame(lif, RULES, SETTINGS).atoms
    assert len(out) == 216  # 8 atoms tiled 3x3x3
    assert np.allclose(out.cell.lengths(), 3 * lif.cell.lengths())
    assert out.info["config_energy_weight"] == 0.0 and out.info["config_stress_weight"] == 0.0
    assert "tiled 3x3x3 to 216 atoms" in out.info["cell_rule"]
    assert json.loads(out.info["oracle_settings"])["electronic_temperature"] == 3000.0
    assert len(lif) == 8  # the input is left alone


def test_slab_is_tiled_laterally_only():
    slab = _typed(li_slab("100", (2, 2), layers=4), "li_slab_100")
    out = prepare_frame(slab, RULES, SETTINGS).atoms
    assert out.cell.lengths()[2] == pytest.approx(slab.cell.lengths()[2])
    assert min(out.cell.lengths()[:2]) >= 12.0 and len(out) >= 60
    assert "config_energy_weight" not in out.info


def test_small_molecular_box_and_unknown_family_are_refused():
    box = _typed(bulk("Li", "bcc", a=3.44, cubic=True), "electrolyte_ec")
    res = prepare_frame(box, RULES, SETTINGS)
    assert res.atoms is None and res.reason.startswith("below_converged_size: electrolyte_ec needs 100 atoms")
    res = prepare_frame(_typed(box, "sei_li2co3"), RULES, SETTINGS)
    assert res.atoms is None and "no cell rule matches config_type 'sei_li2co3'" in res.reason


def test_energy_and_stress_weights_follow_their_own_converged_sizes():
    small = prepare_frame(_typed(sei_phase("Li2O", (2, 2, 2)), "sei_li2o"), RULES, SETTINGS).atoms
    assert "config_energy_weight" not in small.info and small.info["config_stress_weight"] == 0.0
    big = prepare_frame(_typed(sei_phase("Li2O", (3, 3, 3)), "sei_li2o"), RULES, SETTINGS).atoms
    assert "config_energy_weight" not in big.info and "config_stress_weight" not in big.info


def test_rules_refuse_an_oracle_they_were_not_measured_with():
    check_oracle(RULES, TBLiteConfig(electronic_temperature=3000.0))
    with pytest.raises(UserError, match="electronic_temperature 300.0 .rules measured with 3000.0"):
        check_oracle(RULES, TBLiteConfig())


def test_shipped_rules_load_and_unknown_name_is_a_user_error():
    with pytest.raises(UserError, match="unknown cell rules 'nope'"):
        load_cell_rules("nope")


def test_label_frames_refuses_before_the_oracle_and_tiles(tmp_path):
    li = _typed(bulk("Li", "bcc", a=3.44, cubic=True), "li_bulk")
    li.positions[1] += [0.05, 0.0, 0.0]
    close = li.copy()
    close.positions[1] = close.positions[0] + [0.1, 0.0, 0.0]
    small = _typed(bulk("Li", "bcc", a=3.44, cubic=True), "electrolyte_ec")
    na = _typed(bulk("Na", "bcc", a=4.2, cubic=True), "li_bulk")
    slab = _typed(li_slab("100", (2, 2), layers=2), "li_slab_100")
    out = tmp_path / "out.extxyz"
    summary = label_frames([li, close, small, na, slab], TBLiteConfig(electronic_temperature=3000.0), out,
                           workers=1, timeout=300, progress=False, cell_rules=RULES)
    assert summary.written == 2 and summary.failed == 3 and summary.oracle_calls == 2
    reasons = {f["index"]: f["reason"] for f in json.loads((tmp_path / "out.failures.json").read_text())["frames"]}
    assert reasons[1].startswith("unphysical: atoms 0 and 1 are 0.100")
    assert reasons[2].startswith("below_converged_size")
    assert reasons[3].startswith("unphysical: element(s) Na")
    frames = read_frames(out)
    assert len(frames[1]) >= 60 and "tiled" in frames[1].info["cell_rule"]
    assert json.loads(frames[0].info["oracle_settings"])["electronic_temperature"] == 3000.0


def test_cli_label_exits_nonzero_when_a_frame_fails(tmp_path, capsys):
    from active_learning.cli import main

    li = _typed(bulk("Li", "bcc", a=3.44, cubic=True), "li_bulk")
    close = li.copy()
    close.positions[1] = close.positions[0] + [0.1, 0.0, 0.0]
    write(tmp_path / "in.extxyz", [li, close])
    with pytest.raises(SystemExit) as exc:
        main(["data", "label", str(tmp_path / "in.extxyz"), "-o", str(tmp_path / "out.extxyz"),
              "--workers", "1", "--no-progress"])
    assert exc.value.code == 1
    assert "1 of 2 frames have no label" in capsys.readouterr().err


def test_campaign_config_refuses_rules_measured_for_another_oracle():
    from active_learning.campaign.config import CampaignConfig
    from mlip.config import validate

    base = {"initial_data": ["x.extxyz"], "cell_rules": RULES.model_dump(),
            "exploration": {"systems": [{"name": "li", "build": {"builder": "li_bulk"}, "temperatures": [300]}]}}
    cfg = validate(CampaignConfig, {**base, "oracle": {"kind": "tblite", "electronic_temperature": 3000}}, "c.yaml")
    assert cfg.cell_rules is not None
    with pytest.raises(UserError, match="does not match the cell rules"):
        validate(CampaignConfig, {**base, "oracle": {"kind": "tblite"}}, "c.yaml")


FOLD_RULES = CellRules(
    measured_with={"method": "GFN1-xTB", "electronic_temperature": 3000.0},
    rules=[{"match": "sei_lif_eos*", "min_atoms": 64, "tile": True, "fold": True, "energy_min_atoms": 64,
            "stress_min_atoms": 64}],
)


def test_fold_rule_keeps_the_frame_and_judges_weights_on_the_tiling():
    cell = _typed(sei_phase("LiF"), "sei_lif_eos")
    prepared = prepare_frame(cell, FOLD_RULES, {}).atoms
    assert len(prepared) == 8 and tuple(prepared.info["fold_tiling"]) == (2, 2, 2)
    assert "2x2x2 tiling (64 atoms), folded back" in prepared.info["cell_rule"]
    assert "config_energy_weight" not in prepared.info and "config_stress_weight" not in prepared.info


@pytest.mark.parametrize("bad", [[2, 2], [0, 1, 1], "2 x 2"])
def test_a_bad_fold_tiling_is_a_user_error(bad):
    from active_learning.oracles.cell_rules import fold_tiling

    atoms = sei_phase("LiF")
    atoms.info["fold_tiling"] = bad
    with pytest.raises(UserError, match="fold_tiling must be three positive integers"):
        fold_tiling(atoms)


def test_a_folded_label_is_the_tiling_of_the_frame_through_the_real_oracle(tmp_path):
    """GFN1-xTB on a strained, rattled 8-atom LiF cell folded from its 2x2x2 tiling: energy per
    copy, forces of the first copy and the stress equal those of the 64-atom tiling itself."""
    from active_learning.oracles import make_oracle
    from md_runs.builders import rattle, strain

    cell = _typed(rattle(strain(sei_phase("LiF"), 0.02, seed=1), 0.05, seed=2), "sei_lif_eos")
    out = tmp_path / "folded.extxyz"
    summary = label_frames([cell], TBLiteConfig(electronic_temperature=3000.0), out, workers=1, timeout=300,
                           progress=False, cell_rules=FOLD_RULES)
    assert summary.written == 1
    folded = read_frames(out)[0]
    assert len(folded) == 8 and folded.info.get("config_energy_weight", 1.0) == 1.0
    direct = make_oracle(TBLiteConfig(electronic_temperature=3000.0)).label(cell.repeat((2, 2, 2)))
    assert direct.ok
    big = direct.atoms  # labels in the extxyz convention: info / arrays
    assert folded.info["energy"] == pytest.approx(big.info["energy"] / 8, abs=1e-6)
    assert np.abs(folded.arrays["forces"] - big.arrays["forces"][:8]).max() < 1e-5
    assert np.abs(folded.info["stress"] - big.info["stress"]).max() < 1e-6
    assert np.abs(folded.arrays["forces"]).max() > 0.05  # rattled: the forces are not trivially zero
