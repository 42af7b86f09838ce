"""Bring a thermally activated MD quantity (D, sigma) to PyBaMM's reference temperature.

With an Arrhenius activation energy ``Ea`` the value at ``T_ref`` is extrapolated in ln space
from the weighted centroid of the measured points (where the fitted ln value and the slope are
uncorrelated), so ``var(ln X_ref) = 1/sum(w) + (1/T_ref - <1/T>)^2 var(Ea)/R^2``, with
``w = (X/std)^2``. The result is reported as a log-normal: ``mean = exp(ln X_ref)`` (the median)
and ``std = mean*sqrt(exp(s^2)-1)``, with ``log_std = s``. Without ``Ea`` the point closest to
``T_ref`` is taken and a note says so.

Runs of one system at one temperature that differ only by their seed (``replicas`` in a
protocol) are pooled first (:func:`pool_replicas`): their geometric mean, with a log std that is
the larger of the runs' own and their spread, so the exported error bar covers a rerun with
another seed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from typing import Any

from md_runs.export.inputs import Point
from mlip.errors import UserError

R_GAS = 8.314462618  # J/(mol K)


@dataclass
class Estimate:
    """A value at the reference temperature, its uncertainty and how it was obtained."""

    mean: float
    std: float | None
    method: str
    log_std: float | None = None
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _distinct(points: list[Point]) -> list[Point]:
    seen: dict[tuple, Point] = {}
    for p in points:
        seen.setdefault((p.temperature_K, round(math.log(p.mean), 9) if p.mean > 0 else p.mean), p)
    return list(seen.values())


def log_std(mean: float, std: float | None) -> float | None:
    """The std of ln(x) of a log-normal x with this mean and linear std (None without a std or a
    positive mean); :func:`linear_std` is its inverse."""
    return None if not std or mean <= 0 else math.sqrt(math.log1p((std / mean) ** 2))


def linear_std(mean: float, s: float | None) -> float | None:
    """The linear std of a log-normal x with this mean and std ``s`` of ln(x) (None without ``s``)."""
    return None if s is None else mean * math.sqrt(math.expm1(s * s))


def _log_std(p: Point) -> float | None:
    return log_std(p.mean, p.std)


def pool_replicas(points: list[Point]) -> tuple[list[Point], list[str], dict[str, Any]]:
    """One point per (system, temperature): replicas pooled (module docstring); notes; spreads."""
    groups: dict[tuple, list[Point]] = {}
    for p in points:
        groups.setdefault((p.system, p.temperature_K), []).append(p)
    out, notes, spread = [], [], {}
    for (system, t), group in groups.items():
        if len(group) == 1 or t is None:
            out += group
            continue
        logs = [math.log(p.mean) for p in group]
        own = [s for s in map(_log_std, group) if s]
        s_run = math.sqrt(sum(s * s for s in own) / len(own)) if own else 0.0
        s_between = statistics.stdev(logs)
        s = max(s_run, s_between)
        mean = math.exp(statistics.fmean(logs))
        out.append(replace(group[0], mean=mean, std=linear_std(mean, s),
                           meta={**group[0].meta, "replicas": len(group)}))
        spread[f"{t:g}"] = {"values": [p.mean for p in group], "log_std_runs": s_run, "log_std_between": s_between,
                            "analyses": [p.path for p in group]}
        notes.append(f"{system} at {t:g} K: {len(group)} runs with different seeds pooled (geometric mean "
                     f"{mean:.3g}; log std {s:.2f} = max(the runs' own {s_run:.2f}, their spread {s_between:.2f}))")
    return out, notes, spread


def at_reference(points: list[Point], t_ref: float, ea: Point | None) -> Estimate:
    """The value of the quantity in ``points`` at ``t_ref`` (see the module docstring)."""
    points = _distinct(points)
    name = points[0].name
    if any(p.mean <= 0 for p in points):
        bad = next(p for p in points if p.mean <= 0)
        raise UserError(f"{name} must be positive to use it, got {bad.mean:g}", bad.path)
    points, notes, spread = pool_replicas(points)
    with_t = [p for p in points if p.temperature_K is not None]
    est = _arrhenius(with_t, t_ref, ea) if ea is not None and with_t else _closest(with_t or points, t_ref, ea)
    est.notes[:0] = notes
    if spread:
        est.details["seed_spread"] = spread
    return est


def _closest(points: list[Point], t_ref: float, ea: Point | None) -> Estimate:
    known = [p for p in points if p.temperature_K is not None]
    p = min(known, key=lambda q: abs(q.temperature_K - t_ref)) if known else points[0]
    notes = []
    if p.temperature_K is None:
        notes.append(f"no temperature recorded for {p.name}; used as if at {t_ref:g} K")
    elif abs(p.temperature_K - t_ref) > 1.0:
        why = "no MD temperature recorded for the fit" if ea is not None else "no Arrhenius fit supplied"
        notes.append(f"{why}: value taken at the closest MD temperature {p.temperature_K:g} K, "
                     f"not at the reference temperature {t_ref:g} K")
    return Estimate(p.mean, p.std, p.quantity.method or "as measured", _log_std(p), notes,
                    {"temperature_K": p.temperature_K, "temperatures_K": [p.temperature_K]})


def _arrhenius(points: list[Point], t_ref: float, ea: Point) -> Estimate:
    notes = []
    if all(p.std for p in points):
        weights = [(p.mean / p.std) ** 2 for p in points]
        var_centroid = 1.0 / sum(weights)
    else:
        weights = [1.0] * len(points)
        var_centroid = 0.0
        notes.append("some MD values have no std: equal weights, centroid uncertainty not counted")
    total = sum(weights)
    x_c = sum(w / p.temperature_K for w, p in zip(weights, points)) / total
    y_c = sum(w * math.log(p.mean) for w, p in zip(weights, points)) / total
    dx = 1.0 / t_ref - x_c
    y_ref = y_c - ea.mean / R_GAS * dx
    ea_std = ea.std or 0.0
    if ea.std is None:
        notes.append("activation energy has no std: its uncertainty is not propagated")
    s2 = var_centroid + (dx * ea_std / R_GAS) ** 2
    mean = math.exp(y_ref)
    temps = sorted(p.temperature_K for p in points)
    method = (f"Arrhenius extrapolation to {t_ref:g} K from MD at {', '.join(f'{t:g}' for t in temps)} K "
              f"with Ea = {ea.mean:.4g} +- {ea_std:.2g} J/mol (linearised in ln space about the "
              "weighted centroid of 1/T)")
    return Estimate(mean, linear_std(mean, math.sqrt(s2)), method, math.sqrt(s2), notes,
                    {"temperatures_K": temps, "activation_energy_J_mol": ea.mean,
                     "activation_energy_std_J_mol": ea.std, "centroid_inv_T": x_c,
                     "activation_energy_from": ea.path})
