"""The campaign's iteration table (rich) and plots (PNG): accuracy and test error per iteration."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

COLUMNS = (  # key, header, scale, format
    ("iteration", "iter", 1, "d"), ("phase", "phase", None, "s"), ("oracle_calls", "oracle calls", 1, "d"),
    ("explored", "explored", 1, "d"), ("accurate_fraction", "accurate %", 100, ".1f"),
    ("candidate_fraction", "candidate %", 100, ".1f"), ("selected", "selected", 1, "d"),
    ("labelled", "labelled", 1, "d"), ("failed_fraction", "failed %", 100, ".1f"),
    ("labelled_total", "train set", 1, "d"), ("test_energy_mae_per_atom", "test E MAE meV/at", 1000, ".2f"),
    ("test_force_mae", "test F MAE meV/Å", 1000, ".1f"),
)


def _cell(row: dict, key: str, scale, fmt: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    return format(value * scale if scale not in (None, 1) else value, fmt)


def print_table(rows: list[dict], console: Console | None = None, title: str = "campaign") -> None:
    table = Table(title=title)
    for _, header, _, _ in COLUMNS:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*(_cell(row, k, s, f) for k, _, s, f in COLUMNS))
    (console or Console()).print(table)
    (console or Console()).print("[dim]test errors: the committee's mean on the fixed held-out set[/]")


def write_plots(rows: list[dict], out_dir: Path) -> list[Path]:
    """``accuracy.png`` (accurate/candidate fractions per iteration) and ``test_error.png``
    (test force MAE against oracle calls); written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from mlip.utils import atomic_path

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = [r for r in rows if r.get("phase") == "done"]
    paths = []
    explored = [r for r in done if "accurate_fraction" in r]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([r["iteration"] for r in explored], [r["accurate_fraction"] for r in explored], "o-", label="accurate")
    ax.plot([r["iteration"] for r in explored], [r["candidate_fraction"] for r in explored], "s-", label="candidate")
    ax.set_xlabel("iteration")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterations are whole numbers
    ax.set_ylabel("fraction of explored frames")
    ax.set_ylim(0, 1.02)
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "accuracy.png")
    with atomic_path(paths[-1]) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    tested = [r for r in done if r.get("test_force_mae") is not None]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([r.get("oracle_calls", 0) for r in tested], [1000 * r["test_force_mae"] for r in tested], "o-")
    for r in tested:
        ax.annotate(f"iteration {r['iteration']}", (r.get("oracle_calls", 0), 1000 * r["test_force_mae"]),
                    textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel("oracle calls")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test force MAE (meV/Å)")
    fig.tight_layout()
    paths.append(out_dir / "test_error.png")
    with atomic_path(paths[-1]) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return paths


__all__ = ["print_table", "write_plots"]
