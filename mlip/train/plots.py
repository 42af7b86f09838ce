"""Learning-curve and parity PNGs (written atomically, Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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


def parity(reference: np.ndarray, predicted: np.ndarray, path: str | Path, quantity: str, unit: str,
           groups: list[str] | None = None) -> None:
    """Predicted against reference, coloured by config_type when ``groups`` is given."""
    plt = _plt()
    reference, predicted = np.asarray(reference, float).ravel(), np.asarray(predicted, float).ravel()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    if groups is not None and len(set(groups)) > 1:
        groups = np.asarray(groups)
        for g in sorted(set(groups)):
            m = groups == g
            ax.scatter(reference[m], predicted[m], s=6, alpha=0.6, label=g)
        ax.legend(fontsize=7, markerscale=2)
    else:
        ax.scatter(reference, predicted, s=6, alpha=0.6)
    if reference.size:
        lo, hi = float(min(reference.min(), predicted.min())), float(max(reference.max(), predicted.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        mae = float(np.abs(predicted - reference).mean())
        ax.set_title(f"{quantity}: MAE {mae:.3g} {unit}", fontsize=10)
    ax.set(xlabel=f"reference {quantity} ({unit})", ylabel=f"predicted {quantity} ({unit})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def parity_plots(frames, preds, out_dir: str | Path, prefix: str = "parity") -> list[Path]:
    """parity_energy.png (eV/atom) and parity_forces.png (eV/Å) for labelled ``frames``."""
    out_dir = Path(out_dir)
    written = []
    e = [(a.info["energy"] / len(a), p["energy"] / len(a), a.info.get("config_type", "default"))
         for a, p in zip(frames, preds) if a.info.get("energy") is not None]
    if e:
        ref, pred, groups = zip(*e)
        parity(np.array(ref), np.array(pred), out_dir / f"{prefix}_energy.png", "energy", "eV/atom", list(groups))
        written.append(out_dir / f"{prefix}_energy.png")
    f = [(a.arrays["forces"], p["forces"], a.info.get("config_type", "default"))
         for a, p in zip(frames, preds) if "forces" in a.arrays]
    if f:
        ref = np.concatenate([x[0].ravel() for x in f])
        pred = np.concatenate([x[1].ravel() for x in f])
        groups = sum(([x[2]] * x[0].size for x in f), [])
        parity(ref, pred, out_dir / f"{prefix}_forces.png", "force", "eV/Å", groups)
        written.append(out_dir / f"{prefix}_forces.png")
    return written
