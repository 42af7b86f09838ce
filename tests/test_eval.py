"""`seimlip eval`: metrics JSON overall and per config_type, table, parity plots, model resolution."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from mlip.errors import UserError
from helpers import XTB_SPECIES as SPECIES
from helpers import xtb_frames  # the same tiny GFN1-xTB frames as test_train (cached per session)

KEYS = ("energy_mae_per_atom", "energy_rmse_per_atom", "force_mae", "force_rmse", "stress_mae", "n_frames")


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory):
    from mlip.data.readers import write_frames

    path = tmp_path_factory.mktemp("evaldata") / "frames.extxyz"
    write_frames(path, list(xtb_frames()))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An (untrained) model with reference energies and scale fitted to the frames, as a checkpoint."""
    from mlip.model import ModelConfig, build_model
    from mlip.train.checkpoint import save_checkpoint
    from mlip.train.config import DataConfig
    from mlip.train.data import fit_statistics

    torch.manual_seed(0)
    stats = fit_statistics(list(xtb_frames()), DataConfig(path="unused", species=SPECIES))
    model = build_model(ModelConfig.preset("small", channels=8, radial_hidden=16), SPECIES,
                        stats["atomic_energies"], scale=stats["scale"], shift=stats["shift"])
    path = tmp_path_factory.mktemp("evalmodel") / "model.pt"
    save_checkpoint(path, {"model": model.to_state(), "ema": model.to_state()})
    return path


def _app():
    import typer

    from mlip.cli.eval import evaluate

    app = typer.Typer()
    app.command("eval")(evaluate)
    app.command("noop")(lambda: None)
    return app


def test_eval_cli_writes_json_table_and_plots(checkpoint, frames_file, tmp_path):
    from typer.testing import CliRunner

    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(_app(), ["eval", str(checkpoint), str(frames_file), "--json", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for name in ("li_bulk", "li_diatomic", "molecule", "all"):
        assert name in result.output
    data = json.loads(out.read_text())
    assert set(data["per_config_type"]) == {"li_bulk", "li_diatomic", "molecule"}
    for block in [data, *data["per_config_type"].values()]:
        assert all(k in block for k in KEYS)
        for k in ("energy_mae_per_atom", "force_mae", "force_rmse"):
            assert math.isfinite(block[k]) and block[k] >= 0
        assert block["energy_mae_per_atom"] <= block["energy_rmse_per_atom"] + 1e-12
        assert block["force_mae"] <= block["force_rmse"] + 1e-12
    assert data["n_frames"] == 12 == sum(b["n_frames"] for b in data["per_config_type"].values())
    per = data["per_config_type"]
    assert per["li_bulk"]["n_frames"] == 5 and per["molecule"]["n_frames"] == 4
    # stress is labelled on the Li cells only
    assert per["li_bulk"]["stress_mae"] >= 0 and per["molecule"]["stress_mae"] is None
    assert data["stress_mae"] == pytest.approx(per["li_bulk"]["stress_mae"])
    # E0s fitted by least squares: even an untrained model is within a few eV/atom (sane units)
    assert data["energy_mae_per_atom"] < 5
    assert (tmp_path / "metrics_parity_energy.png").is_file() and (tmp_path / "metrics_parity_forces.png").is_file()


def test_metrics_equal_a_direct_numpy_computation(checkpoint):
    from mlip.evaluate import evaluate_model, load_any_model

    frames = list(xtb_frames())
    metrics, preds = evaluate_model(load_any_model(checkpoint), frames)
    df = np.concatenate([p["forces"] - a.arrays["forces"] for a, p in zip(frames, preds)]).ravel()
    de = np.array([(p["energy"] - a.info["energy"]) / len(a) for a, p in zip(frames, preds)])
    assert metrics["force_mae"] == pytest.approx(np.abs(df).mean(), rel=1e-10)
    assert metrics["force_rmse"] == pytest.approx(np.sqrt((df ** 2).mean()), rel=1e-10)
    assert metrics["energy_mae_per_atom"] == pytest.approx(np.abs(de).mean(), rel=1e-10)
    # the calculator (what eval runs) agrees with training's batched predictions of the Potential
    from mlip.model.io import load_potential
    from mlip.train.metrics import predict

    batched = predict(load_potential(checkpoint), frames, batch_size=5)
    for p, q in zip(preds, batched):
        assert p["energy"] == pytest.approx(q["energy"], rel=1e-5)
        np.testing.assert_allclose(p["forces"], q["forces"], atol=1e-4)
    # perfect predictions give zero errors
    from mlip.evaluate import metrics_by_config_type

    exact = [{"energy": a.info["energy"], "forces": a.arrays["forces"], "stress": a.info.get("stress")} for a in frames]
    zero = metrics_by_config_type(frames, exact)
    assert zero["force_mae"] == 0 and zero["energy_rmse_per_atom"] == 0 and zero["stress_mae"] == 0


def test_eval_resolves_shipped_names_and_deployed_files(checkpoint, monkeypatch, tmp_path):
    export = pytest.importorskip("mlip.deploy.exporter")
    import mlip.pretrained
    from mlip.evaluate import evaluate_model, load_any_model

    monkeypatch.setattr(mlip.pretrained, "PRETRAINED_DIR", tmp_path)
    export.export(checkpoint, tmp_path / "tiny-model.pt")
    assert mlip.pretrained.available() == ["tiny-model"]
    calc = load_any_model("tiny-model")
    frames = list(xtb_frames())[:6]
    via_file, _ = evaluate_model(calc, frames)
    via_ckpt, _ = evaluate_model(load_any_model(checkpoint), frames)
    for k in ("energy_mae_per_atom", "force_mae", "stress_mae"):
        assert via_file[k] == pytest.approx(via_ckpt[k], rel=1e-4, abs=1e-6)


def test_bad_model_arguments_give_one_line_errors(tmp_path):
    from mlip.evaluate import load_any_model

    junk = tmp_path / "junk.pt"
    junk.write_text("not a model")
    for spec, needle in (("no-such-model", "shipped"), (str(junk), "not a seimlip")):
        with pytest.raises(UserError) as err:
            load_any_model(spec)
        assert needle in str(err.value) and "\n" not in str(err.value)
