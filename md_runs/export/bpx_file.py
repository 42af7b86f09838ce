"""A BPX file of the export: the base set as a valid BPX DFN skeleton + the SEI values as User-defined.

The skeleton is the base PyBaMM set evaluated at its reference temperature (functions become
interpolation tables, activation energies of the skeleton are left out), so
``pybamm.ParameterValues.create_from_bpx`` rebuilds a runnable cell whose "User-defined" section
carries the exported SEI parameters under PyBaMM's names.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from md_runs.export import names as N
from mlip.errors import UserError

BPX_VERSION = "1.0.0"


def _eval(value, *args) -> np.ndarray:
    import pybamm

    if not callable(value):
        return np.broadcast_to(np.asarray(value, dtype=float), np.shape(args[0]) if args else ())
    syms = [pybamm.Vector(np.atleast_1d(a).astype(float)) if np.ndim(a) else pybamm.Scalar(float(a))
            for a in args]
    out = value(*syms)
    out = out.evaluate() if isinstance(out, pybamm.Symbol) else out
    out = np.asarray(out, dtype=float).ravel()
    shape = np.shape(args[0])
    return np.full(shape, out[0]) if out.size == 1 else out.reshape(shape)


def _table(x: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    return {"x": [float(v) for v in x], "y": [float(v) for v in y]}


def _electrode(p, side: str, t_ref: float, sto_min: float, sto_max: float, c_e0: float) -> dict:
    pre, short = f"{side} electrode ", f"{side} particle "
    eps = float(p[pre + "porosity"])
    eps_s = float(p[pre + "active material volume fraction"])
    radius = float(p[short + "radius [m]"])
    c_max = float(p[f"Maximum concentration in {side.lower()} electrode [mol.m-3]"])
    sto = np.linspace(0.0, 1.0, 101)
    sto_in = np.clip(sto, 1e-4, 1 - 1e-4)
    j0 = float(_eval(p[pre + "exchange-current density [A.m-2]"], c_e0, 0.5 * c_max, c_max, t_ref))
    m_ref = j0 / math.sqrt(c_e0 * 0.5 * c_max * 0.5 * c_max)
    from pybamm import constants

    return {
        "Thickness [m]": float(p[pre + "thickness [m]"]),
        "Porosity": eps,
        "Transport efficiency": eps ** float(p[pre + "Bruggeman coefficient (electrolyte)"]),
        "Conductivity [S.m-1]": float(p[pre + "conductivity [S.m-1]"])
        * eps_s ** float(p[pre + "Bruggeman coefficient (electrode)"]),
        "Minimum stoichiometry": float(sto_min),
        "Maximum stoichiometry": float(sto_max),
        "Maximum concentration [mol.m-3]": c_max,
        "Particle radius [m]": radius,
        "Surface area per unit volume [m-1]": 3.0 * eps_s / radius,
        "Diffusivity [m2.s-1]": _table(sto, _eval(p[short + "diffusivity [m2.s-1]"], sto_in, t_ref)),
        "OCP [V]": _table(sto, _eval(p[pre + "OCP [V]"], sto_in)),
        "Reaction rate constant [mol.m-2.s-1]": m_ref * c_max * math.sqrt(c_e0) / constants.F.value,
        "Entropic change coefficient [V.K-1]": _table(
            sto, _eval(p.get(pre + "OCP entropic change [V.K-1]", 0.0), sto_in, c_max)),
    }


def bpx_skeleton(base: str, t_ref: float | None = None) -> dict[str, Any]:
    """A BPX 1.x DFN document built from the PyBaMM parameter set ``base``."""
    import pybamm

    from md_runs.export.pybamm_json import base_parameter_values

    p = base_parameter_values(base)
    t_ref = float(p[N.T_REF]) if t_ref is None else t_ref
    try:
        x0, x100, y100, y0 = pybamm.lithium_ion.get_min_max_stoichiometries(p)
        c_e0 = float(p["Initial concentration in electrolyte [mol.m-3]"])
        c_e = np.linspace(0.0, 4000.0, 81)
        sep = "Separator "
        area = float(p["Electrode height [m]"]) * float(p["Electrode width [m]"])
        return {
            "Header": {"BPX": BPX_VERSION, "Model": "DFN", "Title": f"{base} skeleton (seimlip export)",
                       "Description": f"PyBaMM set {base} evaluated at {t_ref:g} K; SEI parameters "
                                      "from MD in User-defined"},
            "Parameterisation": {
                "Cell": {
                    "Electrode area [m2]": area,
                    "External surface area [m2]": float(p["Cell cooling surface area [m2]"]),
                    "Volume [m3]": float(p["Cell volume [m3]"]),
                    "Number of electrode pairs connected in parallel to make a cell":
                        int(p["Number of electrodes connected in parallel to make a cell"]),
                    "Lower voltage cut-off [V]": float(p["Lower voltage cut-off [V]"]),
                    "Upper voltage cut-off [V]": float(p["Upper voltage cut-off [V]"]),
                    "Nominal cell capacity [A.h]": float(p["Nominal cell capacity [A.h]"]),
                    "Reference temperature [K]": t_ref,
                },
                "Electrolyte": {
                    "Cation transference number": float(p["Cation transference number"]),
                    "Diffusivity [m2.s-1]": _table(c_e, _eval(p["Electrolyte diffusivity [m2.s-1]"],
                                                               c_e, t_ref)),
                    "Conductivity [S.m-1]": _table(c_e, _eval(p["Electrolyte conductivity [S.m-1]"],
                                                               c_e, t_ref)),
                },
                "Negative electrode": _electrode(p, "Negative", t_ref, x0, x100, c_e0),
                "Positive electrode": _electrode(p, "Positive", t_ref, y100, y0, c_e0),
                "Separator": {
                    "Thickness [m]": float(p[sep + "thickness [m]"]),
                    "Porosity": float(p[sep + "porosity"]),
                    "Transport efficiency": float(p[sep + "porosity"])
                    ** float(p[sep + "Bruggeman coefficient (electrolyte)"]),
                },
            },
            "State": {"Initial conditions": {"Initial state-of-charge": 1.0,
                                             "Initial temperature [K]": t_ref,
                                             "Initial electrolyte concentration [mol.m-3]": c_e0},
                      "Thermal environment": {"Ambient temperature [K]": t_ref}},
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"cannot build a BPX skeleton from PyBaMM set '{base}' ({exc})") from None


def bpx_document(export: dict[str, Any]) -> dict[str, Any]:
    """The BPX document of an export: skeleton of its base set + User-defined SEI parameters."""
    doc = bpx_skeleton(export["base"], export["reference_temperature_K"])
    doc["Header"]["Description"] += (
        ". User-defined holds the SEI parameters predicted by seimlip from MD (means; their std and "
        f"provenance are in the seimlip export). Not provided by MD: {', '.join(export['not_provided'])}")
    # no "description" key in User-defined: PyBaMM's BPX reader would take it for a parameter
    doc["Parameterisation"]["User-defined"] = {k: float(v) for k, v in export["parameters"].items()
                                               if k != N.T_REF}
    return doc


def validate_bpx(doc: dict[str, Any]) -> None:
    """Validate with the ``bpx`` package (the BPX standard's reference parser)."""
    import copy

    from bpx import parse_bpx_obj
    from pydantic import ValidationError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parse_bpx_obj(copy.deepcopy(doc))
    except (ValidationError, ValueError, TypeError) as exc:
        first = str(exc).splitlines()
        raise UserError(f"BPX document does not validate: {' '.join(first[:3])}") from None
