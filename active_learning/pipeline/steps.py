"""The steps of ``seimlip quickstart`` (:mod:`active_learning.pipeline`), each a function of the
pipeline returning its record, each calling the library function its command calls.

A step writes into its own folder of the run folder; its record (``steps/<name>.json``) names the
files the report shows and the numbers it tabulates.
"""

from __future__ import annotations

from pathlib import Path

from active_learning.pipeline.config import CONFIG_DIR, MD_CONFIG_DIR, dataset_dir, split_file
from active_learning.pipeline.state import Pipeline, console
from mlip.config import deep_merge

#: learning rate of the campaign's first committee when it is fine-tuned from the starting model
FINETUNE_LR = 1e-3


def data_and_model(pipe: Pipeline) -> dict:
    """Summarise the shipped dataset and check the starting model on its test split
    (``seimlip data stats`` and ``seimlip eval MODEL test.extxyz.gz --json ...``)."""
    from mlip.data.readers import read_frames
    from mlip.data.stats import statistics_of
    from mlip.evaluate import evaluate_file, write_json

    folder = dataset_dir(pipe.cfg.dataset)
    out = pipe.out / "data"
    splits = {s: split_file(folder, s) for s in ("train", "val", "test")}
    frames = {s: read_frames(p) for s, p in splits.items()}
    stats = statistics_of(frames["train"] + frames["val"] + frames["test"])
    write_json(out / "dataset_stats.json", stats.as_dict())
    evaluation = evaluate_file(pipe.cfg.model, splits["test"], json_out=out / "model_test_metrics.json",
                               plot_dir=out, plot_prefix="model_parity",
                               title=f"{pipe.cfg.model} on {splits['test'].name}", console=console)
    return {"dataset": str(folder), "splits": {s: str(p) for s, p in splits.items()},
            "n_frames": {s: len(f) for s, f in frames.items()},
            "per_config_type": stats.per_config_type,
            "metrics": str(out / "model_test_metrics.json"), "stats": str(out / "dataset_stats.json"),
            "plots": [str(p) for p in evaluation.plots]}


def campaign_config(cfg) -> dict:
    """The campaign the pipeline runs: ``configs/campaign_quick.yaml`` + the ``campaign`` block."""
    from mlip.config import read_yaml

    base = read_yaml(CONFIG_DIR / "campaign_quick.yaml")
    if cfg.campaign_start == "model":  # fine-tune the starting model, gently; the campaign block may still say otherwise
        base["training"]["overrides"] = {**base["training"].get("overrides", {}), "init_from": cfg.model,
                                         "optimizer": {"lr": FINETUNE_LR}}
    config = deep_merge(base, {"seed": cfg.seed, **cfg.campaign.model_dump(mode="json")})
    # relative paths in the shipped config are relative to the configs folder
    config["initial_data"] = [str((CONFIG_DIR / p).resolve()) for p in config["initial_data"]]
    if config.get("test_data"):
        config["test_data"] = str((CONFIG_DIR / config["test_data"]).resolve())
    return config


def active_learning(pipe: Pipeline) -> dict:
    """A GFN1-xTB campaign on the local executor (``configs/campaign_quick.yaml`` + overrides)."""
    from active_learning.campaign import init_campaign, run_campaign

    folder = pipe.out / "campaign"
    if not (folder / "campaign.yaml").exists():
        init_campaign(campaign_config(pipe.cfg), folder)
    summary = run_campaign(folder, max_iterations=pipe.cfg.al_iterations)
    rows = [{k: v for k, v in r.items() if not isinstance(v, (dict, list))} for r in summary.table]
    record = {"folder": str(folder), "iterations": summary.iterations, "stopped_by": summary.stopped_by,
              "oracle_calls": summary.oracle_calls, "labelled": summary.labelled,
              "model": str(summary.model) if summary.model else None, "table": rows,
              "start": "fine-tuned from " + pipe.cfg.model if pipe.cfg.campaign_start == "model" else "from scratch",
              "plots": [str(p) for p in sorted((folder / "plots").glob("*.png"))]}
    return {**record, **md_model_choice(pipe, record["model"], folder)}


def md_model_choice(pipe: Pipeline, campaign_model: str | None, folder: Path) -> dict:
    """Which model the MD and validation steps run: the campaign's committee when its force MAE on
    the dataset's test split is at most the starting model's (the data step's metrics), else the
    starting model; ``md_model`` and the reason (``md_model_reason``) go into the record."""
    from mlip.evaluate import evaluate_file
    from mlip.utils import read_json_document

    start = pipe.cfg.model
    if campaign_model is None:
        return {"md_model": start, "md_model_reason": "the campaign deployed no committee"}
    data = pipe.records["data"]
    own = read_json_document(data["metrics"], "the starting model's test metrics")["force_mae"]
    test = data["splits"]["test"]
    theirs = evaluate_file(campaign_model, test, json_out=folder / "committee_test_metrics.json",
                           title=f"campaign committee on {Path(test).name}", console=console).metrics["force_mae"]
    figures = (f"test-split force MAE {theirs * 1e3:.1f} meV/Å (campaign committee) against {own * 1e3:.1f} "
               f"meV/Å ({start})")
    better = theirs <= own
    why = "is at least as accurate" if better else "is less accurate than the starting model"
    return {"md_model": campaign_model if better else start, "md_model_reason": f"the campaign's committee {why}: "
            f"{figures}", "committee_test_metrics": str(folder / "committee_test_metrics.json")}


def md_model(pipe: Pipeline) -> str:
    """The model the MD steps and the validation run (:func:`md_model_choice`; the starting model
    when no campaign ran)."""
    return pipe.records.get("campaign", {}).get("md_model") or pipe.cfg.model


def _md(pipe: Pipeline, name: str, protocol: dict) -> dict:
    from md_runs.protocols import run_protocol

    folder = pipe.out / "md" / name
    runs = run_protocol(protocol, folder, resume=True)
    return {"folder": str(folder), "runs": [str(r) for r in runs]}


def _protocol(pipe: Pipeline, name: str) -> dict:
    from mlip.config import read_yaml

    return deep_merge(read_yaml(MD_CONFIG_DIR / f"{name}.yaml"),
                      {"model": md_model(pipe), **getattr(pipe.cfg, name).model_dump(mode="json")})


def sei_formation(pipe: Pipeline) -> dict:
    """Li(100) slab + 1 M LiPF6/EC in LAMMPS with the plugin: minimise, equilibrate, NVT."""
    return _md(pipe, "sei_formation", _protocol(pipe, "sei_formation"))


def li_transport(pipe: Pipeline) -> dict:
    """Li diffusion in an SEI phase at two temperatures (NPT, then NVT)."""
    return _md(pipe, "li_transport", _protocol(pipe, "li_transport"))


def analysis(pipe: Pipeline) -> dict:
    """Species, profiles, D(T), conductivity, Arrhenius and density of every MD run."""
    from md_runs.analysis import analyze

    written = analyze(pipe.out / "md", pipe.out, pipe.cfg.analysis)
    return {"folder": str(pipe.out / "analysis"), "results": {k: str(v) for k, v in written.items()}}


def validation(pipe: Pipeline) -> dict:
    """``seimlip validate --suite quick`` on the model the MD used: its physics against GFN1-xTB
    and experiment (EOS, crystal stability, liquids, NEB, surfaces, reactive MD)."""
    from md_runs.validation import suite_config, validate_model

    overrides = pipe.cfg.validation.model_dump(mode="json")
    cfg = suite_config(str(overrides.pop("suite", "quick")), overrides, "quickstart.yaml: validation")
    folder = pipe.out / "validation"
    doc = validate_model(md_model(pipe), folder, cfg, progress=lambda line: console.print(
        line, highlight=False, markup=False, emoji=False))  # no emoji: "surface:100:" is not 💯
    from md_runs.validation.outputs import print_table

    print_table(doc, console)
    return {"folder": str(folder), "json": doc["files"]["json"], "markdown": doc["files"]["markdown"],
            "passed": doc["passed"], "phases": doc["phases"], "plots": doc["plots"], "summary": doc["summary"]}


def export(pipe: Pipeline) -> dict:
    """PyBaMM parameters (JSON on OKane2022 and BPX) with uncertainty, checked by running PyBaMM;
    refused for phases that failed validation or runs that melted unless ``allow_unvalidated``
    (``seimlip export pybamm ... --bpx --check`` on the analysis results)."""
    from rich.text import Text

    from md_runs.export.gate import UnvalidatedExport
    from md_runs.export.run import export_and_check

    folder = pipe.out / "export"
    results = [Path(p) for p in pipe.records["analysis"]["results"].values()]
    checked = pipe.records.get("validation", {}).get("json")
    try:
        run = export_and_check(results, folder / "sei.json", pipe.cfg.export, bpx=folder / "sei.bpx.json",
                               check_dir=folder / "check", validation=checked,
                               allow_unvalidated=pipe.cfg.allow_unvalidated, keep_unchecked=True)
    except UnvalidatedExport as exc:
        console.print(Text("export refused: ", style="bold yellow") + Text(str(exc)), highlight=False)
        return {"refused": str(exc), "validation": checked}
    record = {"export": str(run.path), "bpx": str(run.bpx)}
    if run.check_error is not None:  # PyBaMM cannot run these parameters at all: a result to report, not a crash
        console.print(Text("PyBaMM check failed: ", style="bold yellow") + Text(run.check_error), highlight=False)
        return {**record, "check_failed": run.check_error, "plots": []}
    return {**record, "check_dir": str(run.check_dir), "check_option": run.check.get("sei_option"),
            "plots": [str(p) for p in sorted(run.check_dir.glob("*.png"))]}


PLAN = [
    ("data", "shipped dataset and model", data_and_model),
    ("campaign", "active learning with GFN1-xTB", active_learning),
    ("sei_formation", "SEI formation MD (LAMMPS)", sei_formation),
    ("li_transport", "Li transport MD at two temperatures", li_transport),
    ("analysis", "analysis", analysis),
    ("validation", "physical validation of the model (quick suite)", validation),
    ("export", "export to PyBaMM and check", export),
]
