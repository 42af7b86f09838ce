"""PyBaMM parameter names (PyBaMM >= 25.1, no electrode prefix), units and what MD can give.

Every name here is checked against the installed PyBaMM by ``tests/test_export.py``: it is a key
of ``ParameterValues("OKane2022")`` or a parameter of an SEI submodel.
"""

from __future__ import annotations

D_LI = "SEI lithium interstitial diffusivity [m2.s-1]"
C_LI0 = "Lithium interstitial reference concentration [mol.m-3]"
D_SOL = "SEI solvent diffusivity [m2.s-1]"
C_SOL = "Bulk solvent concentration [mol.m-3]"
D_EC = "EC diffusivity [m2.s-1]"
C_EC0 = "EC initial concentration in electrolyte [mol.m-3]"
V_SEI = "SEI partial molar volume [m3.mol-1]"
Z_SEI = "Ratio of lithium moles to SEI moles"
E_SEI = "SEI growth activation energy [J.mol-1]"
R_SEI = "SEI resistivity [Ohm.m]"
KAPPA_LI = "SEI lithium ion conductivity [S.m-1]"
L_SEI0 = "Initial SEI thickness [m]"
T_REF = "Reference temperature [K]"

#: PyBaMM name -> unit of the exported value (SI, as in the name).
EXPORTED_UNITS: dict[str, str] = {
    D_LI: "m2/s", C_LI0: "mol/m3", D_SOL: "m2/s", C_SOL: "mol/m3", D_EC: "m2/s", C_EC0: "mol/m3",
    V_SEI: "m3/mol", Z_SEI: "1", E_SEI: "J/mol", R_SEI: "Ohm.m", KAPPA_LI: "S/m", L_SEI0: "m",
}

#: PyBaMM name -> analysis quantity it comes from (see md_runs.analysis.result).
SOURCE_QUANTITY: dict[str, str] = {
    D_LI: "li_diffusivity", C_LI0: "li_concentration", D_SOL: "solvent_diffusivity",
    C_SOL: "solvent_concentration", D_EC: "solvent_diffusivity", C_EC0: "solvent_concentration",
    V_SEI: "partial_molar_volume", Z_SEI: "li_to_sei_ratio", E_SEI: "activation_energy",
    R_SEI: "li_conductivity", KAPPA_LI: "li_conductivity", L_SEI0: "sei_thickness",
}

#: SEI parameters MD cannot give, with the reason; the base set's values stay in force.
NOT_FROM_MD: dict[str, str] = {
    "SEI electron conductivity [S.m-1]": "electronic transport through the SEI is not described "
    "by a classical/tight-binding MLIP trajectory (no electron conduction in MD)",
    "Tunneling distance for electrons [m]": "electron tunnelling is a quantum effect MD does not sample",
    "Tunneling barrier factor [m-1]": "electron tunnelling is a quantum effect MD does not sample",
    "SEI open-circuit potential [V]": "needs an electrode potential; MD runs at fixed charge, "
    "not under potential control",
    "SEI reaction exchange current density [A.m-2]": "a kinetic rate under potential control; "
    "MD gives no electrochemical current",
    "SEI kinetic rate constant [m.s-1]": "a kinetic rate under potential control; MD gives no "
    "electrochemical current",
    "SEI growth transfer coefficient": "a Butler-Volmer symmetry factor; needs potential-dependent "
    "rates that MD does not give",
}

#: SEI option -> the exported parameters it needs (the first is the rate-limiting diffusivity).
SEI_OPTION_NEEDS: dict[str, tuple[str, ...]] = {
    "interstitial-diffusion limited": (D_LI,),
    "solvent-diffusion limited": (D_SOL,),
    "ec reaction limited": (D_EC,),
}

#: Parameters that matter for each SEI option (perturbed by the uncertainty check when uncertain).
SEI_OPTION_USES: dict[str, tuple[str, ...]] = {
    "interstitial-diffusion limited": (D_LI, C_LI0, V_SEI, Z_SEI, E_SEI, R_SEI, L_SEI0),
    "solvent-diffusion limited": (D_SOL, C_SOL, V_SEI, Z_SEI, E_SEI, R_SEI, L_SEI0),
    "ec reaction limited": (D_EC, C_EC0, V_SEI, Z_SEI, E_SEI, R_SEI, L_SEI0),
}


def default_sei_option(parameters: dict[str, float]) -> str | None:
    """The SEI growth option matching what was exported (Li interstitial first), or None."""
    for option, needs in SEI_OPTION_NEEDS.items():
        if all(n in parameters for n in needs):
            return option
    return None
