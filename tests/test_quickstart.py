"""`seimlip quickstart`: the whole pipeline on a reduced config, interrupted (SIGINT, SIGKILL) and
resumed without redoing finished steps; the report's pictures are opened, not only listed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from active_learning.cli import main
from active_learning.pipeline.report_page import Report
from helpers import QUICKSTART_REDUCED as REDUCED


def _quickstart(out: Path, config: Path) -> subprocess.Popen:
    """Start the quickstart with its output in a file beside ``out`` (``proc.log_path``): a pipe
    nobody reads until the end fills up and blocks the run, and a blocked run cannot stop."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    log_path = out.parent / "quickstart.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("seimlip")), "quickstart", "--out", str(out),
                                 "--config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                text=True, env=env, start_new_session=True)
    proc.log_path = log_path
    return proc


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 900) -> None:
    end = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, f"quickstart ended early:\n{proc.log_path.read_text()[-3000:]}"
        assert time.time() < end, f"{path} did not appear"
        time.sleep(0.5)


def _png_has_content(path: Path) -> bool:
    import matplotlib.image as mpimg

    pixels = mpimg.imread(path)[..., :3]
    return pixels.shape[0] > 100 and pixels.shape[1] > 100 and float(pixels.std()) > 0.02


@pytest.mark.slow
def test_reduced_quickstart_interrupted_and_resumed(tmp_path):
    config = tmp_path / "reduced.yaml"
    config.write_text(yaml.safe_dump(REDUCED))
    out = tmp_path / "qs"
    steps = out / "steps"

    # SIGINT once the first step has finished: a clean stop (exit 130), the record stays.
    proc = _quickstart(out, config)
    _wait_for(steps / "data.json", proc)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    proc.wait(120)
    assert proc.returncode != 0
    data_record = (steps / "data.json").read_text()

    # SIGKILL in the middle of the campaign (after its first committee exists).
    proc = _quickstart(out, config)
    _wait_for(out / "campaign" / "models" / "iter_000" / "committee.pt", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(60)
    assert not (steps / "campaign.json").exists()

    # SIGKILL during the SEI formation MD.
    proc = _quickstart(out, config)
    _wait_for(steps / "campaign.json", proc)
    campaign_record = (steps / "campaign.json").read_text()
    _wait_for(out / "md" / "sei_formation" / "protocol.yaml", proc)
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(60)

    proc = _quickstart(out, config)
    proc.wait(1800)
    log = proc.log_path.read_text()
    assert proc.returncode == 0, log[-4000:]
    assert log.count("done already") == 2, log  # data and campaign were not redone
    assert (steps / "data.json").read_text() == data_record
    assert (steps / "campaign.json").read_text() == campaign_record

    # The campaign labelled each selected frame once and the MD trajectory is continuous.
    campaign = json.loads(campaign_record)
    assert campaign["oracle_calls"] <= REDUCED["campaign"]["selection"]["budget"]
    # its committee was fine-tuned from the shipped model, and the MD ran whichever of the two is
    # more accurate on the test split, for the reason the record gives
    assert campaign["start"] == "fine-tuned from li-ec-gfn1"
    own = json.loads((out / "data" / "model_test_metrics.json").read_text())["force_mae"]
    theirs = json.loads((out / "campaign" / "committee_test_metrics.json").read_text())["force_mae"]
    assert campaign["md_model"] == (campaign["model"] if theirs <= own else "li-ec-gfn1"), campaign
    protocol = yaml.safe_load((out / "md" / "sei_formation" / "protocol.yaml").read_text())
    assert Path(protocol["model"]).name == Path(campaign["md_model"]).name
    from md_runs.trajectory import read_run

    run = read_run(out / json.loads((steps / "sei_formation.json").read_text())["runs"][0])  # records are relative
    steps_seen = [f.info["timestep"] for f in run.frames]
    assert steps_seen == sorted(set(steps_seen)) and len(steps_seen) == 100 // 5 + 1

    # The report: every step has a section; every image it shows exists and has content.
    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    for title in ("Shipped dataset", "Active learning", "SEI formation", "Li transport", "Analysis",
                  "Physical validation", "PyBaMM"):
        assert title in md
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 10
    for rel in images:
        assert _png_has_content(out / rel), rel
    for rel in re.findall(r'<a href="([^"]+)"', html):
        assert (out / rel).is_file(), rel
    export = json.loads((out / "export" / "sei.json").read_text())
    assert export["parameters"]["SEI lithium interstitial diffusivity [m2.s-1]"] > 0
    # the interstitial's own diffusivity and equilibrium concentration, each judged against OKane2022
    d_li = export["uncertainty"]["SEI lithium interstitial diffusivity [m2.s-1]"]["provenance"]
    assert d_li["quantity"] == "li_interstitial_diffusivity"
    c_li = export["uncertainty"]["Lithium interstitial reference concentration [mol.m-3]"]["provenance"]
    assert c_li["quantity"] == "li_interstitial_concentration"
    assert set(export["plausibility"]) == set(export["uncertainty"])
    assert "SEI open-circuit potential [V]" in export["not_provided"] or export["not_provided"]
    assert "seimlip quickstart --scale production" in md
    assert "The MD and validation steps run" in md and "test-split force MAE" in md


def test_report_writer_tables_images_and_links(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(np.arange(10), np.arange(10) ** 2)
    fig.savefig(tmp_path / "curve.png")
    plt.close(fig)
    (tmp_path / "data.json").write_text("{}")
    report = Report("title <&>", tmp_path)
    report.section("One").text("a < b").table(["x", "y"], [[1, 2.5e-12], [3, 0.25]]) \
        .image(tmp_path / "curve.png", "a curve").link(tmp_path / "data.json", "raw")
    md, html = report.write()
    text = md.read_text()
    assert "| 1 | 2.50e-12 |" in text and "![a curve](curve.png)" in text and "[raw](data.json)" in text
    page = html.read_text()
    assert "title &lt;&amp;&gt;" in page and "a &lt; b" in page and '<img src="curve.png"' in page
    assert _png_has_content(tmp_path / "curve.png")


@pytest.mark.parametrize("args, message", [
    (["--scale", "huge"], "--scale must be one of"),
    (["--config", "missing.yaml"], "missing.yaml"),
    (["--config", "bad.yaml"], "al_iterations"),
])
def test_quickstart_bad_input_is_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("al_iterations: -1\n")
    with pytest.raises(SystemExit) as exc:
        main(["quickstart", "--out", str(tmp_path / "qs"), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "qs").exists()


@pytest.mark.parametrize("text, key", [
    ("analysis: {msd_lag: 10}\n", "analysis.msd_lag"),
    ("export: {sei_phaze: LiF}\n", "export.sei_phaze"),
    ("analysis: {arrhenius_estimator: bayes}\n", "analysis.arrhenius_estimator"),
    ("sei_formation: {steps: {productoin: 10}}\n", "sei_formation.steps.productoin"),
    ("li_transport: {replicas: 0}\n", "li_transport.replicas"),
    ("campaign: {training: {overrides: {batchsize: 2}}}\n", "campaign.training.overrides.batchsize"),
    ("campaign: {selection: {budget: many}}\n", "campaign.selection.budget"),
    ("validation: {eos: {phasez: [LiF]}}\n", "validation.eos.phasez"),
])
def test_quickstart_blocks_are_typed(tmp_path, capsys, text, key):
    """Every block is a model: analysis and export are their commands' configs, the others
    overrides of the shipped configs they change, key by key. A bad key is one line naming it and
    the file, exit 2, as the config is read (analysis and export were read only in steps 5 and 6)."""
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["quickstart", "--out", str(tmp_path / "qs"), "--config", str(tmp_path / "bad.yaml")])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and key in err and "bad.yaml" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "qs").exists()
