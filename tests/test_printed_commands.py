"""Every seimlip command the README, the docs and the quickstart report print is *run* (issue #18
item 9), exactly as printed, in a workspace whose files carry the names the commands use.

- ``FAST`` run in the default suite, in order, in one workspace of tiny inputs (a 2-epoch model,
  ``datasets/li_ec_gfn1/`` with 8/4/6 of the shipped frames, a campaign of 24 frames);
- ``SLOW`` (``-m slow``) run the long ones as printed, on reduced configs placed where the
  commands look (``md_runs/configs/sei_formation.yaml`` of the workspace is a 60-step copy,
  ``train small`` reads a 1-epoch preset, the quick validation suite is one EOS);
- ``ELSEWHERE`` are run by another test (named);
- ``MENTIONS`` are prose mentions of a command (``seimlip analyze``), not command lines.

``test_every_printed_command_is_run_somewhere`` fails on a printed command in none of these.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import yaml

from helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- every printed command parses

ROOT_DIR = ROOT
COMMAND_DOCS = ("README.md", "mlip/pretrained/li-ec-gfn1.md", "md_runs/export/README.md",
                "md_runs/analysis/README.md", "datasets/li_ec_gfn1/README.md")


def _segments(text: str):
    """Command lines of a text: lines of its code blocks and its inline `...` spans, split at &&."""
    import re

    lines, fenced = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            lines.append(line)
    lines += re.findall(r"`([^`\n]+)`", text)
    for line in lines:
        for part in line.split("&&"):
            part = re.sub(r"\s#.*$", "", part).strip()
            if part:
                yield part


def printed_commands():
    """(where, argv after `seimlip`) of every seimlip command the README, the docs and the
    quickstart report print, placeholders (``...``, ``[optional]`` brackets) stripped."""
    import re
    import shlex

    from active_learning.pipeline.report import GO_BIGGER

    texts = {name: (ROOT_DIR / name).read_text() for name in COMMAND_DOCS}
    texts["quickstart report (Go bigger)"] = "```\n" + GO_BIGGER + "\n```\n" + GO_BIGGER
    found = []
    for where, text in texts.items():
        for part in _segments(text):
            words = shlex.split(re.sub(r"[\[\]]", " ", part))
            if not words or not (words[0] == "seimlip" or words[0].endswith("/seimlip")):
                continue
            found.append((where, [w for w in words[1:] if w != "..."]))
    return found


def _parse(argv):
    """Parse ``seimlip ARGV`` exactly as the console script would, without running it: (the
    command's path, number of words after it). Usage errors raise."""
    from typer.main import get_command

    from active_learning.cli import app

    cmd = get_command(app)
    ctx = cmd.make_context("seimlip", list(argv))
    path = []
    while hasattr(cmd, "resolve_command"):
        rest = list(getattr(ctx, "_protected_args", getattr(ctx, "protected_args", []))) + list(ctx.args)
        if not rest:
            return path, 0
        name, cmd, rest = cmd.resolve_command(ctx, rest)
        path.append(name)
        if not hasattr(cmd, "resolve_command") and not rest:
            return path, 0  # a mention of the command (`seimlip deploy`), not a command line
        ctx = cmd.make_context(name, list(rest), parent=ctx)
    return path, len(argv) - len(path)


def test_every_printed_command_parses():
    """The report's 'go bigger' once said `seimlip al init campaign.yaml campaign/` (the real form
    is `al init CAMPAIGN --config FILE`): each printed command line must be accepted as written."""
    commands = printed_commands()
    assert len(commands) >= 30, commands
    bad = []
    for where, argv in commands:
        try:
            _parse(argv)
        except Exception as exc:  # noqa: BLE001 - click's usage errors
            if type(exc).__name__ == "Exit" and getattr(exc, "exit_code", 1) == 0:
                continue  # an eager option that answers and exits (seimlip --version)
            bad.append(f"{where}: seimlip {' '.join(argv)}: {getattr(exc, 'format_message', lambda: exc)()}")
    assert not bad, "\n".join(bad)
    assert any(argv[:2] == ["al", "init"] and "--config" in argv for w, argv in commands if "report" in w)
    with pytest.raises(Exception, match="unexpected extra argument"):
        _parse(["al", "init", "campaign.yaml", "campaign/"])  # the old report line


def test_printed_module_entry_points_exist():
    import importlib.util

    assert importlib.util.find_spec("mlip.train.__main__") is not None  # torchrun ... -m mlip.train my.yaml


# ---------------------------------------------------------------- every printed command runs

FAST = [
    "--version",
    "data build --config plan.yaml -o frames.extxyz.gz",
    "data stats labelled.extxyz.gz",
    "data split labelled.extxyz.gz -o splits/",
    "data stats datasets/li_ec_gfn1",
    "train my.yaml --resume",
    "deploy runs/my/checkpoints/best.pt -o model.pt",
    "deploy runs/small/checkpoints/best.pt -o model.pt",
    "deploy a.pt b.pt -o committee.pt",
    "eval li-ec-gfn1 datasets/li_ec_gfn1/test.extxyz.gz --json metrics.json",
    "eval li-ec-gfn1 datasets/li_ec_gfn1/test.extxyz.gz --predictions preds.extxyz",
    "eval model.pt datasets/li_ec_gfn1/test.extxyz.gz --json out/metrics.json --uncertainty",
    "al init camp --config active_learning/configs/campaign_quick.yaml",
    "al status camp",
    "al submit camp frames.extxyz --source md-run-3",
    "al init campaign/ --config campaign.yaml",
    "al status campaign/",
]
SLOW = [
    "data label frames.extxyz.gz -o labelled.extxyz.gz",
    "train small",
    "train my.yaml --committee 4",
    "al run camp",
    "al resume camp",
    "al run campaign/",
    "md run md_runs/configs/sei_formation.yaml --out md/",
    "md run md_runs/configs/li_transport.yaml --out md/",
    "md run sei_formation.yaml --out md/",
    "analyze md/",
    "analyze runs/ -o work/",
    "analyze RUN_DIR --out DIR --config analysis.yaml",
    "export pybamm md/analysis -o sei.json --bpx sei.bpx.json --check",
    "export pybamm md/analysis -o sei.json --check",
    "export pybamm work/analysis -o sei.json --bpx sei.bpx.json --check --config export.yaml",
    "validate li-ec-gfn1 --suite quick --out val/",
    "validate li-ec-gfn1 --suite quick",
    "validate li-ec-gfn1",
    "export pybamm md/analysis -o sei.json --validation val/validation.json",
]
ELSEWHERE = {
    "quickstart --out quickstart": "tests/test_quickstart.py::test_reduced_quickstart_interrupted_and_resumed "
                                   "(slow; the same command with --config reduced.yaml)",
    "quickstart --scale production --out sei-production": "test_quickstart_production_scale_runs below (slow; "
                                                          "the production config reduced)",
}
MENTIONS = {"validate MODEL", "validate --recompute-reference", "analyze", "export pybamm", "validate",
            "data build", "data label"}


def test_every_printed_command_is_run_somewhere():
    printed = {" ".join(argv) for _, argv in printed_commands()}
    covered = set(FAST) | set(SLOW) | set(ELSEWHERE) | MENTIONS
    assert not printed - covered, f"printed but run by no test: {sorted(printed - covered)}"
    assert not (set(FAST) | set(SLOW)) - printed, "listed commands no document prints any more"


def _shipped(n: int, split: str = "train"):
    from mlip.data.readers import read_frames

    frames = read_frames(ROOT / f"datasets/li_ec_gfn1/{split}.extxyz.gz")
    step = max(1, len(frames) // n)
    return frames[::step][:n]


def _tiny_inputs(ws: Path, link_active_learning: bool = True) -> None:
    """The files the fast commands name, tiny."""
    from mlip.data.readers import write_frames

    shipped = ws / "datasets" / "li_ec_gfn1"  # the shipped splits the commands name, a few frames of each
    for split, n in (("train", 8), ("val", 4), ("test", 6)):
        write_frames(shipped / f"{split}.extxyz.gz", _shipped(n, split))
    if link_active_learning:  # the shipped campaign_quick.yaml (its data paths point at the shipped splits)
        (ws / "active_learning").symlink_to(ROOT / "active_learning")
    (ws / "plan.yaml").write_text(yaml.safe_dump({"seed": 0, "systems": [
        {"name": "lif", "build": {"builder": "sei_phase", "name": "LiF", "repeat": [1, 1, 1]}, "count": 2,
         "rattle": 0.05}]}))
    write_frames(ws / "labelled.extxyz.gz", _shipped(12))
    write_frames(ws / "train.extxyz", _shipped(8))
    write_frames(ws / "val.extxyz", _shipped(4, "val"))
    unlabelled = [a.copy() for a in _shipped(3, "test")]
    for a in unlabelled:
        a.info.pop("energy", None), a.info.pop("stress", None), a.arrays.pop("forces", None)
    write_frames(ws / "frames.extxyz", unlabelled)
    (ws / "my.yaml").write_text(yaml.safe_dump({
        "data": {"train": "train.extxyz", "val": "val.extxyz"}, "out_dir": "runs/my",
        "model": {"preset": "small", "channels": 8, "n_interactions": 1, "radial_hidden": 8, "readout_hidden": 0,
                  "readout_heads": 2},
        "max_epochs": 2, "batch_size": 4, "wandb": {"mode": "disabled"}, "device": "cpu"}))
    quick = yaml.safe_load((ROOT / "active_learning/configs/campaign_quick.yaml").read_text())
    quick.update(initial_data=[str(ROOT / "datasets/li_ec_gfn1/train.extxyz.gz")], initial_max_frames=24,
                 test_data=str(ROOT / "datasets/li_ec_gfn1/test.extxyz.gz"), test_max_frames=8)
    quick["exploration"].update(steps=20, interval=10)
    quick["exploration"]["systems"][0]["temperatures"] = [400]
    quick["selection"]["budget"] = 2
    quick["training"].update(initial_epochs=1, epochs=1)
    quick["convergence"]["max_iterations"] = 1
    quick["wandb"] = {"enabled": False}
    (ws / "campaign.yaml").write_text(yaml.safe_dump(quick))


def _before(command: str, ws: Path, capsys) -> None:
    """What a command needs from the ones before it that no printed command makes."""
    if command == "train my.yaml --resume":  # a run to continue: its first epoch
        code, out = run_cli(["train", "my.yaml", "--max-epochs", "1"], capsys)
        assert code == 0, out[-3000:]
    if command.startswith("deploy runs/small/"):  # `train small` (slow) makes it; the fast chain's model stands in
        shutil.copytree(ws / "runs/my", ws / "runs/small", dirs_exist_ok=True)
    if command.startswith("deploy a.pt b.pt"):
        for name in ("a.pt", "b.pt"):
            shutil.copy(ws / "runs/my/checkpoints/best.pt", ws / name)
    if " -o model.pt" in command:
        (ws / "model.pt").unlink(missing_ok=True)  # the two printed deploys write the same file


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("printed")
    _tiny_inputs(ws)
    return ws


@pytest.mark.parametrize("command", FAST)
def test_fast_printed_command_runs(command, workspace, capsys, monkeypatch):
    import shlex

    monkeypatch.chdir(workspace)
    _before(command, workspace, capsys)
    code, out = run_cli(shlex.split(command), capsys)
    assert code == 0, f"seimlip {command}\n{out[-3000:]}"


def test_fast_commands_made_what_they_say(workspace):
    """The outputs the printed commands name exist once the fast chain has run."""
    if not (workspace / "camp" / "campaign.yaml").exists():
        pytest.skip("runs after the fast chain")
    for path in ("frames.extxyz.gz", "splits/train.extxyz.gz", "runs/my/checkpoints/best.pt", "model.pt",
                 "committee.pt", "metrics.json", "preds.extxyz", "out/metrics.json", "out/calibration.json",
                 "campaign/campaign.yaml"):
        assert (workspace / path).exists(), path
    with gzip.open(workspace / "frames.extxyz.gz", "rt") as fh:
        assert "Lattice" in fh.read()


# ---------------------------------------------------------------- slow: the long ones, reduced

MD_REDUCED = {
    "sei_formation": {"system": {"size": [2, 2], "layers": 3, "n_solvent": 4},
                      "steps": {"minimise": 20, "equilibrate": 20, "production": 100},
                      "intervals": {"thermo": 10, "dump": 5, "restart": 50}},
    "li_transport": {"temperatures_K": [600, 800], "replicas": 1,
                     "steps": {"minimise": 20, "equilibrate": 20, "production": 200},
                     "intervals": {"thermo": 10, "dump": 10, "restart": 40}},
}
QUICK_SUITE = {"suite": "quick", "checks": ["eos"], "eos": {"phases": ["LiF"]}}


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def _slow_inputs(ws: Path) -> None:
    """Reduced configs where the printed commands look for the shipped ones."""
    configs = ws / "active_learning" / "configs"
    configs.mkdir(parents=True)
    shutil.copy(ws / "campaign.yaml", configs / "campaign_quick.yaml")
    md = ws / "md_runs" / "configs"
    md.mkdir(parents=True)
    for name, extra in MD_REDUCED.items():
        shipped = yaml.safe_load((ROOT / f"md_runs/configs/{name}.yaml").read_text())
        (md / f"{name}.yaml").write_text(yaml.safe_dump(_merge(shipped, extra)))
    shutil.copy(md / "sei_formation.yaml", ws / "sei_formation.yaml")
    presets = ws / "presets"
    shutil.copytree(ROOT / "mlip/configs", presets)
    small = yaml.safe_load((presets / "small.yaml").read_text())
    small.update(max_epochs=2, wandb={"mode": "disabled"}, device="cpu")
    (presets / "small.yaml").write_text(yaml.safe_dump(small))
    (ws / "analysis.yaml").write_text(yaml.safe_dump({"mcmc_samples": 100}))
    (ws / "export.yaml").write_text(yaml.safe_dump({"sei_phase": "LiF", "check": {"cycles": 1}}))


def _before_slow(command: str, ws: Path, capsys) -> None:
    setup = {"al run camp": ["al", "init", "camp", "--config", "active_learning/configs/campaign_quick.yaml"],
             "al run campaign/": ["al", "init", "campaign/", "--config", "campaign.yaml"]}
    if command in setup:
        code, out = run_cli(setup[command], capsys)
        assert code == 0, out[-3000:]
    if command.startswith("data label"):
        (ws / "labelled.extxyz.gz").unlink(missing_ok=True)
        code, out = run_cli(["data", "build", "--config", "plan.yaml", "-o", "frames.extxyz.gz"], capsys)
        assert code == 0, out[-3000:]
    if command.startswith("analyze runs/"):  # the MD runs, where the export README keeps them
        shutil.copytree(ws / "md", ws / "runs", dirs_exist_ok=True, ignore=shutil.ignore_patterns("analysis"))
    if command.startswith("analyze RUN_DIR"):
        shutil.copytree(ws / "md", ws / "RUN_DIR", dirs_exist_ok=True, ignore=shutil.ignore_patterns("analysis"))
    for out_file in ("sei.json", "sei.bpx.json"):
        if command.startswith("export pybamm"):
            (ws / out_file).unlink(missing_ok=True)


#: exit status a printed command may end with on the shipped model, and why
EXPECTED_CODES = {
    "validate li-ec-gfn1 --suite quick --out val/": (0, 1),  # exit 1: a row fails (the shipped model fails, see its card)
    "validate li-ec-gfn1 --suite quick": (0, 1),
    "validate li-ec-gfn1": (0, 1),
    "export pybamm md/analysis -o sei.json --validation val/validation.json": (0, 2),  # 2: the gate refuses
}


@pytest.fixture(scope="module")
def slow_workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("printed_slow")
    _tiny_inputs(ws, link_active_learning=False)
    _slow_inputs(ws)
    return ws


@pytest.mark.slow
@pytest.mark.parametrize("command", SLOW)
def test_slow_printed_command_runs(command, slow_workspace, capsys, monkeypatch):
    import shlex

    import md_runs.validation.config as validation_config
    import mlip.train.config as train_config

    monkeypatch.chdir(slow_workspace)
    monkeypatch.setattr(train_config, "PRESETS_DIR", slow_workspace / "presets")
    monkeypatch.setitem(validation_config.SUITES, "quick", QUICK_SUITE)
    _before_slow(command, slow_workspace, capsys)
    code, out = run_cli(shlex.split(command), capsys)
    assert code in EXPECTED_CODES.get(command, (0,)), f"seimlip {command}\n{out[-3000:]}"
    if code == 2:
        assert len(out.strip().splitlines()) == 1, out[-3000:]


@pytest.mark.slow
def test_quickstart_production_scale_runs(tmp_path, monkeypatch, capsys):
    """``quickstart --scale production --out sei-production`` as printed, its config the reduced
    one of the quickstart test (the production sizes take hours on a GPU node)."""
    import active_learning.pipeline.config as pipeline
    from helpers import QUICKSTART_REDUCED as REDUCED

    config = tmp_path / "production.yaml"
    config.write_text(yaml.safe_dump(_merge(yaml.safe_load(pipeline.SCALES["quick"].read_text()), REDUCED)))
    monkeypatch.setitem(pipeline.SCALES, "production", config)
    monkeypatch.chdir(tmp_path)
    code, out = run_cli(["quickstart", "--scale", "production", "--out", "sei-production"], capsys)
    assert code == 0, out[-3000:]
    assert (tmp_path / "sei-production" / "report.html").is_file()
