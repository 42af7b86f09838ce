"""The steps of :mod:`active_learning.pipeline`, each a function of the pipeline returning its record.

A step writes into its own folder of the run folder; its record (``steps/<name>.json``) names the
files the report shows and the numbers it tabulates.
"""

from __future__ import annotations

from pathlib import Path

from active_learning.pipeline import Pipeline, console, dataset_dir, split_file


def data_and_model(pipe: Pipeline) -> dict:
    """Summarise the shipped dataset and check the starting model on its test split."""
    from rich.progress import Progress

    from mlip.data.readers import read_frames
    from mlip.data.species import DEFAULT_SPECIES
    from mlip.data.stats import dataset_statistics
    from mlip.evaluate import evaluate_model, load_any_model, print_table, write_json
    from mlip.train.plots import parity_plots

    folder = dataset_dir(pipe.cfg.dataset)
    out = pipe.out / "data"
    splits = {s: split_file(folder, s) for s in ("train", "val", "test")}
    frames = {s: read_frames(p) for s, p in splits.items()}
    stats = dataset_statistics(frames["train"] + frames["val"] + frames["test"], DEFAULT_SPECIES)
    write_json(out / "dataset_stats.json", stats.as_dict())
    model = load_any_model(pipe.cfg.model)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"{pipe.cfg.model} on the test split", total=len(frames["test"]))
        metrics, preds = evaluate_model(model, frames["test"], progress=lambda n: progress.update(task, advance=n))
    metrics["model"], metrics["data"] = pipe.cfg.model, str(splits["test"])
    print_table(metrics, title=f"{pipe.cfg.model} on {splits['test'].name}", console=console)
    write_json(out / "model_test_metrics.json", metrics)
    plots = parity_plots(frames["test"], preds, out, prefix="model_parity")
    return {"dataset": str(folder), "splits": {s: str(p) for s, p in splits.items()},
            "n_frames": {s: len(f) for s, f in frames.items()},
            "per_config_type": stats.per_config_type,
            "metrics": str(out / "model_test_metrics.json"), "stats": str(out / "dataset_stats.json"),
            "plots": [str(p) for p in plots]}


PLAN = [
    ("data", "shipped dataset and model", data_and_model),
]
