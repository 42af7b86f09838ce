"""Every bad input gets one line on stderr, exit status 2, and loses nothing (issue #17).

Each test makes its bad input itself; the commands run in-process through
``active_learning.cli.main``. "Nothing written" is checked by comparing the folder's files before
and after.
"""

from __future__ import annotations

import glob
import json
import math
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from ase.build import bulk

from active_learning.cli import main
from mlip.data.readers import write_frames


# -- helpers ------------------------------------------------------------------------------------
def cli(argv, capsys) -> tuple[int, list[str], str]:
    """(exit code, non-empty stderr lines, stdout) of ``seimlip ARGV``."""
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, [line for line in captured.err.splitlines() if line.strip()], captured.out


def one_line(argv, capsys, *needles: str) -> str:
    """Run a bad input: exit 2, exactly one line on stderr holding every needle; returns the line."""
    code, lines, _ = cli(argv, capsys)
    assert code == 2 and len(lines) == 1, (code, lines)
    assert "Traceback" not in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def li_frame(i: int = 0):
    atoms = bulk("Li", "bcc", a=3.44, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.02, seed=i)
    atoms.info["energy"] = -7.6 * len(atoms) + 0.01 * i
    atoms.arrays["forces"] = np.random.default_rng(i).normal(0.0, 0.1, (len(atoms), 3))
    atoms.info["config_type"] = "li"
    return atoms


def unlabelled(atoms):
    atoms = atoms.copy()
    atoms.info.pop("energy", None)
    atoms.arrays.pop("forces", None)
    return atoms


def small_checkpoint(path: Path) -> Path:
    from helpers import small_model

    from mlip.train.checkpoint import save_checkpoint

    save_checkpoint(path, {"model": small_model().to_state(), "ema": None})
    return path


CAMPAIGN = {
    "name": "bad-inputs", "initial_data": ["labelled.extxyz"], "test_data": "labelled.extxyz",
    "exploration": {"steps": 10, "interval": 5, "systems": [
        {"name": "li", "build": {"builder": "li_slab", "face": "100", "size": [2, 2], "layers": 2},
         "temperatures": [300]}]},
    "training": {"committee_size": 2, "initial_epochs": 1, "epochs": 1,
                 "model": {"preset": "small", "channels": 8, "n_interactions": 1}},
    "wandb": {"enabled": False},
}


def campaign_yaml(folder: Path, **changes) -> Path:
    config = json.loads(json.dumps(CAMPAIGN))
    config.update(changes)
    path = folder / f"campaign{len(list(folder.glob('campaign*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Good inputs for every command; each test brings its own bad one."""
    from helpers import lif_results

    d = tmp_path_factory.mktemp("inputs")
    write_frames(d / "labelled.extxyz", [li_frame(i) for i in range(4)])
    write_frames(d / "unlabelled.extxyz", [unlabelled(li_frame(i)) for i in range(2)])
    (d / "train.yaml").write_text(yaml.safe_dump({
        "data": {"train": str(d / "labelled.extxyz"), "val": str(d / "labelled.extxyz"), "species": ["Li"]},
        "model": {"preset": "small", "channels": 8, "n_interactions": 1, "radial_hidden": 8, "readout_hidden": 0},
        "max_epochs": 2, "batch_size": 2, "wandb": {"mode": "disabled"}, "device": "cpu",
        "out_dir": str(d / "run")}))
    (d / "protocol.yaml").write_text(yaml.safe_dump({"protocol": "li_transport", "systems": [{"phase": "LiF"}]}))
    return SimpleNamespace(dir=d, labelled=d / "labelled.extxyz", unlabelled=d / "unlabelled.extxyz",
                           train=d / "train.yaml", ckpt=small_checkpoint(d / "ckpt.pt"),
                           protocol=d / "protocol.yaml", analysis=lif_results(d / "analysis"),
                           campaign=campaign_yaml(d))


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody may write into: mode 555, and immutable (chattr +i) when running as root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    chattr = shutil.which("chattr")
    immutable = os.geteuid() == 0
    if immutable and (chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode):
        pytest.skip("running as root without chattr +i: no folder is read-only to root")
    try:
        yield folder
    finally:
        if immutable:
            subprocess.run([chattr, "-i", str(folder)], check=True)
        folder.chmod(0o755)


# -- 1. an unwritable output path: one line naming it, nothing written ---------------------------
OUTPUTS = {  # command -> argv with its output under ``bad`` (``ok``: a writable folder)
    "data stats --json": lambda i, bad, ok: ["data", "stats", i.labelled, "--json", bad / "s.json"],
    "data split -o": lambda i, bad, ok: ["data", "split", i.labelled, "-o", bad / "splits"],
    "data build -o": lambda i, bad, ok: ["data", "build", "-o", bad / "frames.extxyz"],
    "data label -o": lambda i, bad, ok: ["data", "label", i.unlabelled, "-o", bad / "labelled.extxyz"],
    "train -o": lambda i, bad, ok: ["train", i.train, "-o", bad / "run"],
    "eval --json": lambda i, bad, ok: ["eval", i.ckpt, i.labelled, "--json", bad / "m.json"],
    "deploy -o": lambda i, bad, ok: ["deploy", i.ckpt, "-o", bad / "model.pt"],
    "al init": lambda i, bad, ok: ["al", "init", bad / "camp", "--config", i.campaign],
    "al run": lambda i, bad, ok: ["al", "run", bad / "camp", "--config", i.campaign],
    "md run --out": lambda i, bad, ok: ["md", "run", i.protocol, "--out", bad / "md"],
    "analyze -o": lambda i, bad, ok: ["analyze", i.dir, "-o", bad / "an"],
    "export pybamm -o": lambda i, bad, ok: ["export", "pybamm", i.analysis, "-o", bad / "sei.json"],
    "export pybamm --bpx": lambda i, bad, ok: ["export", "pybamm", i.analysis, "-o", ok / "sei.json",
                                               "--bpx", bad / "sei.bpx.json"],
    "quickstart --out": lambda i, bad, ok: ["quickstart", "--out", bad / "qs"],
}


@pytest.mark.parametrize("command", sorted(OUTPUTS))
def test_output_under_a_regular_file(command, inputs, tmp_path, capsys):
    bad = tmp_path / "a-file"
    bad.write_text("a regular file, not a folder\n")
    (tmp_path / "ok").mkdir()
    before = files(tmp_path)
    one_line(OUTPUTS[command](inputs, bad, tmp_path / "ok"), capsys, str(bad), "not a folder")
    assert files(tmp_path) == before and bad.read_text() == "a regular file, not a folder\n"


@pytest.mark.parametrize("command", sorted(OUTPUTS))
def test_output_in_a_read_only_folder(command, inputs, read_only, tmp_path, capsys):
    (tmp_path / "ok").mkdir()
    before = files(tmp_path)
    one_line(OUTPUTS[command](inputs, read_only, tmp_path / "ok"), capsys, str(read_only), "not writable")
    assert files(tmp_path) == before  # export: no sei.json when its --bpx cannot be written


@pytest.mark.parametrize("args, what", [(["data", "stats", "{L}", "--json", "{D}"], "a folder of that name"),
                                        (["deploy", "{C}", "-o", "{D}"], "a folder of that name"),
                                        (["data", "split", "{L}", "-o", "{F}"], "a file of that name")])
def test_a_folder_where_a_file_goes_and_back(args, what, inputs, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    names = {"{L}": inputs.labelled, "{C}": inputs.ckpt, "{D}": tmp_path, "{F}": tmp_path / "f"}
    one_line([names.get(a, a) for a in args], capsys, what)


def test_existing_files_are_replaced_only_with_force(inputs, tmp_path, capsys):
    """deploy and data stats --json (and eval --json) said nothing and overwrote."""
    model, stats = tmp_path / "model.pt", tmp_path / "s.json"
    model.write_text("precious")
    stats.write_text("precious")
    one_line(["deploy", inputs.ckpt, "-o", model], capsys, str(model), "--force")
    one_line(["data", "stats", inputs.labelled, "--json", stats], capsys, str(stats), "--force")
    assert model.read_text() == stats.read_text() == "precious"
    assert cli(["data", "stats", inputs.labelled, "--json", stats, "--force"], capsys)[0] == 0
    assert cli(["deploy", inputs.ckpt, "-o", model, "--force"], capsys)[0] == 0
    assert json.loads(stats.read_text())["n_frames"] == 4 and model.read_bytes()[:2] == b"PK"


# -- 2. an empty model file ------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["eval", "deploy"])
def test_empty_model_file(command, inputs, tmp_path, capsys):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    argv = ["eval", empty, inputs.labelled] if command == "eval" else ["deploy", empty, "-o", tmp_path / "m.pt"]
    one_line(argv, capsys, str(empty), "empty file")
    assert files(tmp_path) == ["empty.pt"]


# -- 3. eval checks its data ----------------------------------------------------------------------
def _broken(kind: str):
    frames = [li_frame(i) for i in range(3)]
    if kind == "unlabelled":
        frames = [unlabelled(a) for a in frames]
    elif kind == "inf forces":
        frames[1].arrays["forces"][0, 0] = np.inf
    elif kind == "NaN positions":
        frames[2].positions[0, 1] = np.nan
    elif kind == "unknown element":
        frames[0].symbols[0] = "Na"
    return frames


@pytest.mark.parametrize("kind, frame, message", [("unlabelled", 0, "no energy or forces label"),
                                                  ("inf forces", 1, "forces contain NaN or inf"),
                                                  ("NaN positions", 2, "positions contain NaN or inf"),
                                                  ("unknown element", 0, "outside the model's species")])
def test_eval_refuses_bad_frames(kind, frame, message, inputs, tmp_path, capsys):
    data = tmp_path / "frames.extxyz"
    write_frames(data, _broken(kind))
    one_line(["eval", inputs.ckpt, data, "--json", tmp_path / "out" / "m.json"], capsys, f"{data}#{frame}", message)
    assert not (tmp_path / "out").exists()


# -- 4. export: an unreadable analysis file is an error naming it --------------------------------
def test_export_refuses_a_corrupt_analysis_file(inputs, tmp_path, capsys):
    analysis = tmp_path / "analysis"
    shutil.copytree(inputs.analysis, analysis)
    corrupt = analysis / "arrhenius_LiF.json"
    corrupt.write_text(corrupt.read_text()[:150])  # a truncated copy
    (analysis / ".arrhenius_LiF.json.x1y2.json").write_text("{")  # an interrupted write's temp file: ignored
    out = tmp_path / "out" / "sei.json"
    for arg in (analysis, corrupt):
        one_line(["export", "pybamm", arg, "-o", out], capsys, str(corrupt))
    assert not out.parent.exists()


# -- 5. the campaign store: PostgreSQL by URL --------------------------------------------------------
@pytest.mark.parametrize("url, message", [
    ("not a url", "is not a database URL"),
    ("oracle://scott@host/db", "not supported"),
    ("postgresql://nobody@127.0.0.1:1/none", "connection"),  # nothing listens on port 1
])
def test_bad_store_url_is_one_line_and_leaves_no_folder(url, message, inputs, tmp_path, capsys):
    config = campaign_yaml(inputs.dir, store_url=url)
    one_line(["al", "init", tmp_path / "camp", "--config", config], capsys, str(config), "store_url", message)
    assert not (tmp_path / "camp").exists()


def test_postgres_store_without_its_driver_says_how_to_install_it(inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails as if not installed
    config = campaign_yaml(inputs.dir, store_url="postgresql://me@db.example.org/campaigns")
    one_line(["al", "init", tmp_path / "camp", "--config", config], capsys, "psycopg", "pip install 'seimlip[postgres]'")
    assert not (tmp_path / "camp").exists()


def _postgres_binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster on a free loopback port (as user postgres when we are root)."""
    initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    pytest.importorskip("psycopg")
    as_user: list[str] = []
    root = tempfile.mkdtemp(prefix="seimlip-pg-")
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = os.path.join(root, "data")
    subprocess.run([*as_user, initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-w", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_campaign_on_a_real_postgres_server(postgres_url, inputs, tmp_path, capsys):
    from active_learning.campaign import campaign_status
    from active_learning.campaign.store import CampaignStore, frames_t

    config = campaign_yaml(inputs.dir, store_url=postgres_url)
    code, lines, _ = cli(["al", "init", tmp_path / "camp", "--config", config], capsys)
    assert code == 0, lines
    assert not (tmp_path / "camp" / "campaign.db").exists()  # the store is on the server
    candidates = tmp_path / "candidates.extxyz"
    write_frames(candidates, [unlabelled(li_frame(10 + i)) for i in range(3)])
    code, lines, out = cli(["al", "submit", tmp_path / "camp", candidates], capsys)
    assert code == 0 and "3 frames added" in out, (lines, out)
    assert cli(["al", "submit", tmp_path / "camp", candidates], capsys)[2].startswith("0 frames added, 3 duplicates")
    assert campaign_status(tmp_path / "camp")[0]["initial_frames"] == 4
    store = CampaignStore(postgres_url, create=False)
    try:
        assert {r.status for r in store.frames(columns=["status"])} == {"initial", "pending"}
        assert len(store.frames(frames_t.c.status == "pending", columns=["id"])) == 3
    finally:
        store.close()


# -- 6. al init checks everything a campaign will need ---------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"exploration": {**CAMPAIGN["exploration"], "systems": [{**CAMPAIGN["exploration"]["systems"][0],
                                                               "temperatures": [-5]}]}}, "temperatures"),
    ({"exploration": {**CAMPAIGN["exploration"], "systems": [{"name": "x", "build": {"builder": "nope"}}]}},
     "unknown builder 'nope'"),
    ({"exploration": {**CAMPAIGN["exploration"], "systems": [
        {"name": "x", "build": {"builder": "electrolyte_box", "n_solvent": 2, "solvent": {"XYZ": 1.0}}}]}},
     "unknown solvent 'XYZ'"),
    ({"test_data": "unlabelled.extxyz"}, "missing energy label"),
    ({"test_data": "unknown_element.extxyz"}, "outside the model's species"),
    ({"training": {**CAMPAIGN["training"], "overrides": {"batch_sise": 2}}}, "batch_sise"),
    ({"initial_max_frames": 2}, "leave the validation set of the first training empty"),
])
def test_al_init_refuses_what_would_fail_after_training(change, message, inputs, tmp_path, capsys):
    bad = li_frame(0)
    bad.symbols[0] = "Na"
    write_frames(inputs.dir / "unknown_element.extxyz", [bad])
    one_line(["al", "init", tmp_path / "camp", "--config", campaign_yaml(inputs.dir, **change)], capsys, message)
    assert not (tmp_path / "camp").exists()


# -- 7. a truncated or corrupt campaign.db ------------------------------------------------------------
@pytest.fixture(scope="module")
def campaign(inputs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("campaign") / "camp"
    assert main(["al", "init", str(folder), "--config", str(inputs.campaign)]) is None
    return folder


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
@pytest.mark.parametrize("command", ["run", "submit", "status"])
def test_corrupt_campaign_db(damage, command, campaign, inputs, tmp_path, capsys):
    camp = tmp_path / "camp"
    shutil.copytree(campaign, camp)
    db = camp / "campaign.db"
    data = db.read_bytes()
    db.write_bytes({"truncated": data[: len(data) // 3], "garbage": b"no database here " * 64, "empty": b""}[damage])
    before = {p: p.read_bytes() for p in camp.rglob("*") if p.is_file()}
    argv = {"run": ["al", "run", camp, "--no-progress"], "submit": ["al", "submit", camp, inputs.unlabelled],
            "status": ["al", "status", camp]}[command]
    one_line(argv, capsys, str(db))
    assert {p: p.read_bytes() for p in camp.rglob("*") if p.is_file()} == before


# -- 8. al submit: malformed frames are errors, unphysical ones are refused with their reason ------------
@pytest.mark.parametrize("kind, message", [("NaN positions", "positions contain NaN or inf"),
                                           ("zero cell", "zero cell vector"),
                                           ("0.1 Å contact", "0.100 Å apart")])
def test_al_submit_refuses_bad_frames(kind, message, campaign, tmp_path, capsys):
    from active_learning.campaign import campaign_status

    camp = tmp_path / "camp"
    shutil.copytree(campaign, camp)
    frame = unlabelled(li_frame(3))
    if kind == "NaN positions":
        frame.positions[1, 0] = np.nan
    elif kind == "zero cell":
        frame.cell[:] = 0.0
    else:
        frame.positions[1] = frame.positions[0] + [0.1, 0.0, 0.0]
    path = tmp_path / "frames.extxyz"
    write_frames(path, [frame])
    one_line(["al", "submit", camp, path], capsys, f"{path}#0", message, "nothing queued")
    assert campaign_status(camp) == campaign_status(campaign)


def test_al_submit_queues_the_physical_frames_and_names_the_refused(campaign, tmp_path, capsys):
    from active_learning.campaign import submit_frames

    camp = tmp_path / "camp"
    shutil.copytree(campaign, camp)
    close = unlabelled(li_frame(5))
    close.positions[1] = close.positions[0] + [0.1, 0.0, 0.0]
    path = tmp_path / "frames.extxyz"
    write_frames(path, [unlabelled(li_frame(4)), close])
    code, lines, out = cli(["al", "submit", camp, path], capsys)
    assert code == 0 and "1 frames added" in out and f"1 refused as unphysical (first: {path}#1: atoms 0 and 1" in out
    assert submit_frames(camp, path, "again") == (0, 1, [f"{path}#1: atoms 0 and 1 are 0.100 Å apart (< 0.5 Å)"])


# -- 10. quickstart: the whole config first; a resume with another config is refused ------------------
QUICKSTART = Path(__file__).resolve().parent.parent / "active_learning" / "configs" / "quickstart.yaml"


def _quickstart_config(folder: Path, **blocks) -> Path:
    config = yaml.safe_load(QUICKSTART.read_text())
    config.update(blocks)
    path = folder / "qs.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("block, message", [
    ({"li_transport": {"temperatures_K": [-5]}}, "li_transport: temperatures_K"),
    ({"sei_formation": {"system": {"face": "111"}}}, "sei_formation.system.face"),  # typed blocks: as read
    ({"analysis": {"msd_max_fraction": 2}}, ": analysis.msd_max_fraction"),
    ({"li_transport": {"steps": {"production": 100}, "intervals": {"dump": 10, "restart": 50}}},
     "writes 11 frames per run; the analysis needs at least 20"),
    ({"export": {"base": "Nope2099"}}, "unknown PyBaMM parameter set"),
    ({"validation": {"suite": "everything"}}, "validation.suite"),
    ({"model": "no-such-model"}, "no-such-model"),
])
def test_quickstart_validates_every_block_before_the_first_step(block, message, tmp_path, capsys):
    config = _quickstart_config(tmp_path, **block)
    one_line(["quickstart", "--out", tmp_path / "qs", "--config", config], capsys, str(config), message)
    assert not (tmp_path / "qs").exists()


def _fake_run_folder(out: Path, done: list[str]) -> None:
    """A quickstart folder as the default config leaves it after the steps ``done``."""
    from active_learning.pipeline import load_quickstart_config
    from mlip.config import dump_config

    (out / "steps").mkdir(parents=True)
    (out / "campaign").mkdir()
    (out / "campaign" / "campaign.yaml").write_text("name: initialised before\n")
    dump_config(load_quickstart_config(None, "quick"), out / "quickstart.yaml")
    for step in done:
        (out / "steps" / f"{step}.json").write_text('{"seconds": 1.0}\n')


def test_quickstart_resume_with_a_changed_config_is_refused(tmp_path, capsys):
    out = tmp_path / "qs"
    _fake_run_folder(out, ["data", "campaign", "sei_formation", "li_transport"])
    recorded = (out / "quickstart.yaml").read_text()
    li = yaml.safe_load(QUICKSTART.read_text())["li_transport"]
    config = _quickstart_config(tmp_path, li_transport={**li, "temperatures_K": [500, 700]})
    one_line(["quickstart", "--out", out, "--config", config], capsys, str(out / "quickstart.yaml"),
             "li_transport.temperatures_K", "li_transport")
    assert (out / "quickstart.yaml").read_text() == recorded


def test_quickstart_resume_accepts_changes_to_steps_not_run_yet(tmp_path):
    from active_learning.pipeline import load_quickstart_config
    from active_learning.pipeline.check import check_resume, stale_steps
    from active_learning.pipeline.steps import PLAN

    names = [name for name, _, _ in PLAN]
    assert stale_steps(["li_transport.temperatures_K"], names) == ["li_transport", "analysis", "export"]
    assert stale_steps(["model"], names) == [n for n in names if n != "campaign"]
    assert stale_steps(["a_key_no_step_knows"], names) == names
    out = tmp_path / "qs"
    _fake_run_folder(out, ["data"])
    cfg = load_quickstart_config(None, "quick")
    changed = cfg.model_copy(update={"li_transport": {"temperatures_K": [500, 700]}})
    check_resume(changed, out, names, {"data", "campaign", "sei_formation"})  # li_transport not run yet
    with pytest.raises(Exception, match="li_transport"):
        check_resume(changed, out, names, {"data", "li_transport"})


# -- 11. a quickstart folder can be copied or moved ------------------------------------------------------
def test_quickstart_records_are_relative_to_the_run_folder(tmp_path):
    from active_learning.pipeline import load_quickstart_config
    from active_learning.pipeline.state import Pipeline

    cfg = load_quickstart_config(None, "quick")
    first = (tmp_path / "first").resolve()
    outside = str(tmp_path / "elsewhere" / "data.extxyz")

    def step() -> dict:
        return {"folder": str(first / "analysis"), "results": {"x": str(first / "analysis" / "x.json")},
                "plots": [str(first / "p.png")], "input": outside}

    Pipeline(cfg, first).step(1, 1, "analysis", "analysis", step)
    saved = json.loads((first / "steps" / "analysis.json").read_text())
    assert saved["folder"] == "./analysis" and saved["results"]["x"] == "./analysis/x.json"
    assert saved["input"] == outside
    moved = tmp_path / "moved"
    shutil.move(first, moved)
    record = Pipeline(cfg, moved).step(1, 1, "analysis", "analysis", lambda: pytest.fail("the step ran again"))
    assert record["results"]["x"] == str(moved / "analysis" / "x.json") and record["plots"] == [str(moved / "p.png")]
    assert record["input"] == outside


# -- 12. smaller ones -------------------------------------------------------------------------------------------
def test_messages_name_the_input_file(inputs, tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"systems": [{"name": "x", "count": 1, "build": {"builder": "nope"}}]}))
    one_line(["data", "build", "-c", plan, "-o", tmp_path / "f.extxyz"], capsys, f"{plan}: systems[0] (x)",
             "unknown builder")
    plan.write_text(yaml.safe_dump({"systems": [{"name": "ec", "count": 1, "build": {
        "builder": "electrolyte_box", "n_solvent": 2, "molarity": 0.0, "solvent": {"XYZ": 1.0}}}]}))
    line = one_line(["data", "build", "-c", plan, "-o", tmp_path / "f.extxyz"], capsys, str(plan), "unknown solvent 'XYZ'")
    assert "random draws" not in line
    nan = unlabelled(li_frame(0))
    nan.positions[0, 0] = np.nan
    write_frames(tmp_path / "nan.extxyz", [nan])
    protocol = tmp_path / "p.yaml"
    protocol.write_text(yaml.safe_dump({"protocol": "li_transport", "engine": "ase",
                                        "systems": [{"structure": str(tmp_path / "nan.extxyz")}]}))
    one_line(["md", "run", protocol, "--out", tmp_path / "md"], capsys, str(protocol), "positions contain NaN")
    assert not (tmp_path / "md").exists() and not (tmp_path / "f.extxyz").exists()


def test_max_iterations_below_zero(campaign, capsys):
    for command in ("run", "resume"):
        one_line(["al", command, campaign, "--max-iterations", "-1"], capsys, "--max-iterations", "-1")


def test_no_nan_in_the_json_we_write(tmp_path):
    from md_runs.analysis.result import AnalysisResult, Quantity
    from mlip.utils import write_json_atomic

    write_json_atomic(tmp_path / "a.json", {"x": math.nan, "y": [np.float32(np.inf), 1.0], "z": np.arange(2)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": None, "y": [None, 1.0], "z": [0, 1]}
    AnalysisResult("diffusion", {"li_diffusivity": Quantity(1e-12, math.nan, "m2/s")}).save(tmp_path / "d.json")
    text = (tmp_path / "d.json").read_text()
    assert "NaN" not in text and json.loads(text)["quantities"]["li_diffusivity"]["std"] is None


def test_resume_falls_back_on_the_previous_checkpoint(inputs, tmp_path, capsys):
    """A truncated last.pt: training resumes from last.previous.pt (one epoch earlier) with a warning."""
    run = tmp_path / "run"
    assert cli(["train", inputs.train, "-o", run], capsys)[0] == 0
    last = run / "checkpoints" / "last.pt"
    assert (run / "checkpoints" / "last.previous.pt").is_file()
    last.write_bytes(last.read_bytes()[:1000])
    code, lines, _ = cli(["train", inputs.train, "-o", run, "--resume", "--max-epochs", "3"], capsys)
    assert code == 0 and any("last.pt" in line and "resuming from" in line and "epoch 1" in line for line in lines)
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3


def test_md_resume_skips_a_corrupt_newest_restart(tmp_path):
    """LAMMPS: the newest restart truncated, the run continues from the one before, one trajectory."""
    from helpers import assert_continuous, lif_transport

    from md_runs.protocols import run_protocol
    from md_runs.trajectory import read_run

    base = lif_transport(temperatures_K=[300], systems=[{"phase": "LiF", "repeat": [1, 1, 1]}],
                         steps={"minimise": 0, "equilibrate": 0, "production": 40},
                         intervals={"thermo": 10, "dump": 10, "restart": 20})
    (run_dir,) = run_protocol(base, tmp_path / "md")
    newest = run_dir / "restart" / "step_000000000040.restart"
    newest.write_bytes(newest.read_bytes()[:200])
    (run_dir,) = run_protocol({**base, "steps": {"minimise": 0, "equilibrate": 0, "production": 60}}, tmp_path / "md")
    run = read_run(run_dir)
    assert_continuous([f.info.get("timestep", f.info.get("step")) for f in run.frames], 10, 7)
    assert (run_dir / "restart" / "step_000000000040.restart.corrupt").exists() and run.info.steps_done == 60


# -- usage errors and --version ----------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["data", "stats", "x.extxyz", "--bogus"], "No such option: --bogus"),
    (["eval", "li-ec-gfn1"], "Missing argument"),
    (["data", "stats", "a.extxyz", "b.extxyz"], "unexpected extra argument"),
    (["frobnicate"], "No such command"),
    (["al", "run", "camp", "--max-iterations", "two"], "--max-iterations"),
    # every package's app, as the root joins them (data build is active_learning's, data stats mlip's)
    (["data", "build", "--bogus"], "No such option: --bogus"),
    (["export", "pybamm"], "Missing argument"),
    (["md", "run", "a.yaml", "b.yaml"], "unexpected extra argument"),
    (["eval", "li-ec-gfn1", "x.extxyz", "--batch-size", "4"], "No such option: --batch-size"),  # removed: a no-op
])
def test_usage_errors_are_one_line_exit_2(argv, message, capsys):
    one_line(argv, capsys, message, "--help")


def test_version(capsys):
    from importlib.metadata import version

    code, lines, out = cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"seimlip {version('seimlip')}" and not lines
