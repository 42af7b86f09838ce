"""Learning-curve and parity PNGs (written atomically, Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlip.data.stats import fit_reference_energies
from mlip.utils import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def learning_curve(history: list[dict], path: str | Path) -> None:
    plt = _plt()
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    ax.semilogy(epochs, [r["train_loss"] for r in history], label="train")
    ax.semilogy(epochs, [r["val_loss"] for r in history], label="validation")
    stage2 = [r["epoch"] for r in history if r.get("stage") == 2]
    if stage2:
        ax.axvline(stage2[0], color="grey", ls=":", label="late stage")
    ax.set(xlabel="epoch", ylabel="weighted loss")
    ax.legend()
    for ax, key, label in ((axes[1], "val_energy_mae_per_atom", "val energy MAE (meV/atom)"),
                           (axes[2], "val_force_mae", "val force MAE (meV/Å)")):
        vals = [r.get(key) for r in history]
        if any(v is not None for v in vals):
            ax.semilogy(epochs, [np.nan if v is None else 1000 * v for v in vals])
        ax.set(xlabel="epoch", ylabel=label)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def config_family(config_type: str) -> str:
    """The family a config_type belongs to: its first word (``li_bulk`` -> ``li``, ``sei_lif`` ->
    ``sei``, ``md_hot_li2o`` -> ``md``), so that each panel holds a few related types."""
    return str(config_type).split("_", 1)[0] or str(config_type)


def type_colours(groups) -> dict:
    """One distinct colour per config_type (matplotlib's 20-colour map; it repeats past 20)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return {g: cmap(k % 20) for k, g in enumerate(sorted(set(groups)))}


def parity(reference: np.ndarray, predicted: np.ndarray, path: str | Path, quantity: str, unit: str,
           groups: list[str] | None = None, mae_scale: float = 1000.0, mae_unit: str | None = None,
           note: str | None = None) -> None:
    """Predicted against reference: one panel per config family (``config_family``), each type its
    own colour of a 20-colour map, the legend outside the data; each panel's title gives its MAE
    (``mae_scale`` x ``unit``, e.g. meV/Å) and its number of points."""
    plt = _plt()
    reference, predicted = np.asarray(reference, float).ravel(), np.asarray(predicted, float).ravel()
    groups = np.asarray(groups if groups is not None else ["all"] * reference.size, dtype=object)
    colours = type_colours(groups)
    families = sorted({config_family(g) for g in groups})
    ncols = min(3, len(families))
    nrows = -(-len(families) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 2.0, 3.4 * nrows + 0.5), squeeze=False)
    mae_unit = mae_unit or (f"m{unit}" if mae_scale == 1000.0 else unit)
    for ax, family in zip(axes.flat, families):
        in_family = np.array([config_family(g) == family for g in groups])
        for g in sorted(set(groups[in_family])):
            m = groups == g
            ax.scatter(reference[m], predicted[m], s=5, alpha=0.6, color=colours[g], label=g, rasterized=True)
        ref, pred = reference[in_family], predicted[in_family]
        lo, hi = float(min(ref.min(), pred.min())), float(max(ref.max(), pred.max()))
        pad = 0.04 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal", adjustable="box")
        mae = float(np.abs(pred - ref).mean()) * mae_scale
        ax.set_title(f"{family}: MAE {mae:.3g} {mae_unit} (n={ref.size})", fontsize=9)
        ax.set_xlabel(f"reference {quantity} ({unit})", fontsize=8)
        ax.set_ylabel(f"predicted {quantity} ({unit})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(families):]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours[g], label=g) for g in sorted(colours)]
    fig.legend(handles=handles, loc="center right", fontsize=7, frameon=False, title="config_type",
               title_fontsize=8)
    total = float(np.abs(predicted - reference).mean()) * mae_scale if reference.size else float("nan")
    fig.suptitle(f"{quantity} parity: MAE {total:.3g} {mae_unit} over {reference.size} values"
                 + (f"\n{note}" if note else ""), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.9 / fig.get_figwidth(), 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def parity_plots(frames, preds, out_dir: str | Path, prefix: str = "parity") -> list[Path]:
    """parity_energy.png and parity_forces.png (eV/Å) for labelled ``frames``, per config family.

    Energies are plotted as E - sum E0 per atom, with per-element E0 fitted by least squares to
    the reference energies of these frames and subtracted from reference and prediction alike:
    on the absolute scale (-80 ... -10 eV/atom here) a 100 meV/atom error is invisible.
    """
    out_dir = Path(out_dir)
    written = []
    labelled = [(a, p) for a, p in zip(frames, preds) if a.info.get("energy") is not None]
    if labelled:
        species = sorted({s for a, _ in labelled for s in a.get_chemical_symbols()})
        try:
            e0 = fit_reference_energies([a for a, _ in labelled], species)
        except Exception:  # noqa: BLE001 - e.g. every energy weight zero: fall back to no shift
            e0 = {s: 0.0 for s in species}
        shift = [sum(e0[s] for s in a.get_chemical_symbols()) for a, _ in labelled]
        ref = np.array([(a.info["energy"] - c) / len(a) for (a, _), c in zip(labelled, shift)])
        pred = np.array([(p["energy"] - c) / len(a) for (a, p), c in zip(labelled, shift)])
        groups = [a.info.get("config_type", "default") for a, _ in labelled]
        parity(ref, pred, out_dir / f"{prefix}_energy.png", "E − ΣE0", "eV/atom", groups,
               mae_unit="meV/atom", note="E0 per element fitted to the reference energies by least squares")
        written.append(out_dir / f"{prefix}_energy.png")
    f = [(a.arrays["forces"], p["forces"], a.info.get("config_type", "default"))
         for a, p in zip(frames, preds) if "forces" in a.arrays]
    if f:
        ref = np.concatenate([x[0].ravel() for x in f])
        pred = np.concatenate([x[1].ravel() for x in f])
        groups = sum(([x[2]] * x[0].size for x in f), [])
        parity(ref, pred, out_dir / f"{prefix}_forces.png", "force component", "eV/Å", groups, mae_unit="meV/Å")
        written.append(out_dir / f"{prefix}_forces.png")
    return written
