"""Training: loss goes down on real (GFN1-xTB) data, exact resume, DDP == one process, clear errors."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from mlip.errors import UserError

from helpers import XTB_SPECIES as SPECIES
from helpers import xtb_frames

SPLIT = {"train": [0, 1, 3, 5, 6, 8, 9, 11], "val": [2, 10], "test": [4, 7]}


@pytest.fixture(scope="session")
def data_files(tmp_path_factory):
    from mlip.data.readers import write_frames

    frames = xtb_frames()
    root = tmp_path_factory.mktemp("xtb")
    paths = {}
    for name, idx in SPLIT.items():
        paths[name] = str(root / f"{name}.extxyz")
        write_frames(paths[name], [frames[i] for i in idx])
    paths["all"] = str(root / "all.extxyz")
    write_frames(paths["all"], list(frames))
    return paths


def make_config(data_files, out_dir, **over):
    from mlip.train.config import TrainConfig

    data = {"train": data_files["train"], "val": data_files["val"], "test": data_files["test"], "species": SPECIES}
    cfg = {
        "data": data,
        "model": {"preset": "small", "channels": 8, "radial_hidden": 16, "readout_hidden": 8},
        "batch_size": 2, "max_epochs": 4, "out_dir": str(out_dir), "seed": 3,
        "optimizer": {"lr": 0.01}, "wandb": {"mode": "disabled"},
    }
    for key, value in over.items():
        node, *path = key.split("__")
        target = cfg
        for p in [node, *path][:-1]:
            target = target.setdefault(p, {})
        target[[node, *path][-1]] = value
    return TrainConfig.model_validate(cfg)


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_training_lowers_the_loss_and_writes_a_run_folder(data_files, tmp_path):
    from mlip.train import load_model
    from mlip.train.loop import train

    out = tmp_path / "run"
    cfg = make_config(data_files, out, max_epochs=12, wandb={"mode": "offline"})
    summary = train(cfg)
    rows = read_csv(out / "metrics.csv")
    assert len(rows) == 12
    first, last = rows[0], rows[-1]
    # the validation loss always uses the first-stage weights; the training loss changes weights
    # when the late (energy-weighted) stage starts, so compare it within stage 1
    assert float(last["val_loss"]) < 0.2 * float(first["val_loss"])
    stage1 = [r for r in rows if r["stage"] == "1"]
    assert float(stage1[-1]["train_loss"]) < 0.8 * float(first["train_loss"])
    assert last["stage"] == "2" and len(stage1) == 9
    for name in ("config.yaml", "learning_curve.png", "parity_energy.png", "parity_forces.png", "summary.json",
                 "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (out / name).is_file(), name
    assert any((out / "wandb").glob("offline-run-*"))
    on_disk = json.loads((out / "summary.json").read_text())
    test = on_disk["test"]
    assert test["n_frames"] == 2 and 0 <= test["force_mae"] <= test["force_rmse"] < 5
    assert set(test["per_config_type"]) == {"li_bulk", "li_diatomic"}
    assert on_disk["provenance"]["seed"] == 3 and summary["best_epoch"] >= 1
    # checkpoints are plain data; load_model gives a working Potential
    state = torch.load(out / "checkpoints/last.pt", weights_only=True)
    assert state["format_version"] == 1 and state["epoch"] == 12 and state["ema"] is not None
    model = load_model(out / "checkpoints/best.pt")
    assert model.species == SPECIES and model.cutoff == cfg.model.cutoff


def test_resume_after_interruption_reproduces_the_uninterrupted_run(data_files, tmp_path, monkeypatch):
    from mlip.train import loop

    common = dict(max_epochs=4, scheduler={"kind": "cosine", "warmup_epochs": 1}, loss={"late_stage": {"start_fraction": 0.5}})
    loop.train(make_config(data_files, tmp_path / "a", **common))

    calls = {"n": 0}
    real_validate = loop.Trainer.validate

    def crash_in_third_validation(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed during epoch 3: last.pt holds epoch 2
        return real_validate(self)

    monkeypatch.setattr(loop.Trainer, "validate", crash_in_third_validation)
    cfg_b = make_config(data_files, tmp_path / "b", **common)
    with pytest.raises(KeyboardInterrupt):
        loop.train(cfg_b)
    monkeypatch.setattr(loop.Trainer, "validate", real_validate)
    assert torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=True)["epoch"] == 2
    with pytest.raises(UserError, match="--resume"):
        loop.train(cfg_b)  # a run folder with a checkpoint is never silently overwritten
    with pytest.raises(UserError, match="optimizer"):
        loop.train(make_config(data_files, tmp_path / "b", optimizer={"lr": 0.5}, **common), resume=True)
    loop.train(cfg_b, resume=True)

    a, b = read_csv(tmp_path / "a/metrics.csv"), read_csv(tmp_path / "b/metrics.csv")
    assert len(a) == len(b) == 4
    for ra, rb in zip(a, b):
        for key in ("step", "stage", "lr", "train_loss", "val_loss", "val_force_mae"):
            assert ra[key] == rb[key], (ra["epoch"], key)
    sa = torch.load(tmp_path / "a/checkpoints/last.pt", weights_only=True)
    sb = torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=True)
    for part in ("model", "ema"):
        for k, v in sa[part]["state_dict"].items():
            assert torch.equal(v, sb[part]["state_dict"][k]), (part, k)


def test_ddp_two_gloo_processes_match_one_process(data_files, tmp_path):
    from mlip.train.distributed import launch_local
    from mlip.train.loop import train

    kw = dict(dtype="float64", batch_size=4, max_epochs=2, data={"train": data_files["train"], "val": data_files["val"],
                                                                 "species": SPECIES})
    train(make_config(data_files, tmp_path / "one", **kw))
    launch_local(make_config(data_files, tmp_path / "two", **kw), nprocs=2)
    one, two = read_csv(tmp_path / "one/metrics.csv"), read_csv(tmp_path / "two/metrics.csv")
    assert len(one) == len(two) == 2
    for r1, r2 in zip(one, two):
        for key in ("train_loss", "val_loss", "val_energy_mae_per_atom", "val_force_mae"):
            assert float(r1[key]) == pytest.approx(float(r2[key]), rel=1e-9, abs=1e-12), key
    s1 = torch.load(tmp_path / "one/checkpoints/last.pt", weights_only=True)["model"]["state_dict"]
    s2 = torch.load(tmp_path / "two/checkpoints/last.pt", weights_only=True)["model"]["state_dict"]
    for k in s1:
        torch.testing.assert_close(s1[k], s2[k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "over, key",
    [
        ({"optimizer": {"lr": -1.0}}, "optimizer.lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 10}, "epochs"),
        ({"device": "tpu"}, "device"),
        ({"ema_decay": 1.5}, "ema_decay"),
        ({"loss": {"weights": {"forces": -1}}}, "loss.weights.forces"),
        ({"model": {"preset": "huge"}}, "model"),
        ({"model": {"preset": "small", "channels": 0}}, "channels"),
        ({"scheduler": {"kind": "step"}}, "scheduler.kind"),
        ({"data": {"path": "x.xyz", "split": [0.5, 0.1, 0.1]}}, "data.split"),
        ({"data": {"train": "x.xyz"}}, "data.val"),
        ({"data": {"path": "x.xyz", "species": ["Li", "Xx"]}}, "data.species"),
    ],
)
def test_bad_config_values_give_one_clear_error(tmp_path, over, key):
    import yaml

    from mlip.train.config import load_train_config

    cfg = {"data": {"path": "x.xyz"}, **over}
    if "data" in over:
        cfg["data"] = over["data"]
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(UserError) as err:
        load_train_config(path)
    message = str(err.value)
    assert key in message and "\n" not in message


def test_missing_data_and_preset_configs(tmp_path):
    from mlip.train.config import load_train_config

    with pytest.raises(UserError, match="not found"):
        load_train_config(tmp_path / "nope.yaml")
    for name in ("small", "medium"):  # shipped presets validate (their data paths are only read at train time)
        cfg = load_train_config(name)
        assert cfg.model.cutoff > 0 and cfg.data.species


def test_checkpoint_of_another_format_version_or_kind_is_a_clear_error(tmp_path):
    from mlip.model import ModelConfig, build_model
    from mlip.train import load_model
    from mlip.train.checkpoint import load_checkpoint, save_checkpoint

    model = build_model(ModelConfig.preset("small", channels=4, radial_hidden=8), SPECIES, {})
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": model.to_state(), "ema": None})
    assert isinstance(load_model(good), torch.nn.Module)
    state = torch.load(good, weights_only=True)
    state["format_version"] = 99
    torch.save(state, tmp_path / "v99.pt")
    with pytest.raises(UserError, match="format_version 99"):
        load_model(tmp_path / "v99.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("hello")
    for bad in ("other.pt", "text.pt", "missing.pt"):
        with pytest.raises(UserError) as err:
            load_checkpoint(tmp_path / bad)
        assert bad in str(err.value) and "\n" not in str(err.value)


def test_fine_tune_from_checkpoint_and_cli(data_files, tmp_path):
    """`seimlip train` through typer, then fine-tuning from its checkpoint via init_from."""
    import typer
    import yaml
    from typer.testing import CliRunner

    from mlip.cli.train import train as train_command

    app = typer.Typer()
    app.command("train")(train_command)
    app.command("noop")(lambda: None)
    cfg = make_config(data_files, tmp_path / "base", max_epochs=1).model_dump(mode="json")
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(app, ["train", str(path), "--set", "optimizer.lr=0.002"])
    assert result.exit_code == 0, result.output
    base = tmp_path / "base/checkpoints/best.pt"
    assert yaml.safe_load((tmp_path / "base/config.yaml").read_text())["optimizer"]["lr"] == 0.002

    from mlip.train.loop import train

    tuned = make_config(data_files, tmp_path / "tuned", max_epochs=1, init_from=str(base),
                        model={"preset": "small"})  # the architecture comes from the checkpoint
    summary = train(tuned)
    assert summary["statistics"] == {"init_from": str(base)} and summary["epochs"] == 1
