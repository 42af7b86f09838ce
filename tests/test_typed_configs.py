"""Configs typed end to end (issue #16 item 5): the model section of a training config, the
campaign's oracle, training model and overrides are pydantic models, so a bad key or value is one
line naming it and the file before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
QUICK = ROOT / "active_learning/configs/campaign_quick.yaml"


def _quick() -> dict:
    return yaml.safe_load(QUICK.read_text())


def test_train_config_model_is_a_model_config():
    from mlip.model import ModelConfig
    from mlip.train.config import TrainConfig

    cfg = TrainConfig.model_validate({"data": {"path": "x.extxyz"}, "model": {"preset": "small", "channels": 8},
                                      "dtype": "float64"})
    assert isinstance(cfg.model, ModelConfig) and cfg.model.channels == 8 and cfg.model.dtype == "float64"
    assert cfg.model == ModelConfig.preset("small", channels=8, dtype="float64")
    again = TrainConfig.model_validate(cfg.model_dump(mode="json"))  # what a checkpoint stores, read back
    assert again.model == cfg.model


def test_campaign_oracle_training_model_and_overrides_are_typed():
    from active_learning.campaign.config import CampaignConfig
    from active_learning.campaign.retrain import train_config
    from active_learning.oracles.config import CP2KConfig, TBLiteConfig
    from mlip.model import ModelConfig

    cfg = CampaignConfig.model_validate(_quick())
    assert isinstance(cfg.oracle, TBLiteConfig) and isinstance(cfg.training.model, ModelConfig)
    assert cfg.training.overrides.model_dump() == {"patience": None}  # the keys given, None a value
    assert train_config(cfg, Path("d.extxyz"), 0, Path("m")).patience is None
    cp2k = CampaignConfig.model_validate({**_quick(), "oracle": {"kind": "cp2k"}})
    assert isinstance(cp2k.oracle, CP2KConfig)
    data = _quick()
    data["training"]["overrides"] = {"device": "auto", "batch_size": 8}  # the production quickstart's device
    trained = train_config(CampaignConfig.model_validate(data), Path("d.extxyz"), 1, Path("m"))
    assert (trained.device, trained.batch_size) == ("auto", 8)  # was silently reset to cpu


@pytest.mark.parametrize("section, value, key", [
    ("overrides", {"batch_size": 0}, "training.overrides.batch_size"),
    ("overrides", {"max_epochs": 3}, "training.overrides.max_epochs"),  # the campaign sets it (training.epochs)
    ("overrides", {"optimiser": {}}, "training.overrides.optimiser"),
    ("model", {"preset": "small", "chanels": 8}, "chanels"),
])
def test_a_bad_campaign_training_key_is_one_line_before_init(section, value, key, tmp_path, capsys):
    data = _quick()
    data["training"][section] = value
    data["initial_data"] = [str(ROOT / "datasets/li_ec_gfn1/train.extxyz.gz")]
    data["test_data"] = None
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data))
    code, out = run_cli(["al", "init", tmp_path / "camp", "--config", tmp_path / "bad.yaml"], capsys)
    assert code == 2 and key in out and "bad.yaml" in out and len(out.strip().splitlines()) == 1, out
    assert not (tmp_path / "camp").exists()


def test_a_bad_oracle_key_is_one_line(tmp_path, capsys):
    data = {**_quick(), "oracle": {"kind": "tblite", "methd": "GFN1-xTB"}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data))
    code, out = run_cli(["al", "init", tmp_path / "camp", "--config", tmp_path / "bad.yaml"], capsys)
    assert code == 2 and "oracle.tblite.methd" in out and "bad.yaml" in out and len(out.strip().splitlines()) == 1, out
