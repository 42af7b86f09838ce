"""Build structures from YAML-style specs: ``{builder: interface, face: "100", seed: 3, ...}``.

Each builder's keyword arguments are validated by a strict pydantic model made from its
signature, so a typo or a bad value is a one-line :class:`UserError` naming the key. Besides the
builder's own arguments a spec may hold sampling steps applied in this order, all seeded from
``seed``: ``fragments`` (list of fragment names, :func:`add_fragment`), ``volume`` ([lo, hi]: isotropic
scaling to a random V / V_built in that range, :func:`scale_volume`), ``strain`` (max strain),
``rattle`` (stdev in Å); and ``config_type`` (copied into ``info``).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, get_type_hints

from ase import Atoms
from pydantic import Field, create_model

from mlip.config import StrictModel, validate
from mlip.errors import UserError
from md_runs.builders.crystals import li_bulk, li_slab, sei_phase
from md_runs.builders.defects import sei_defect
from md_runs.builders.li_defects import li_defect
from md_runs.builders.sei_interfaces import sei_li_interface
from md_runs.builders.molecules import molecule
from md_runs.builders.packing import electrolyte_box, ledc_box
from md_runs.builders.perturb import rattle, scale_volume, strain
from md_runs.builders.surfaces import Fragment, add_fragment, li_interface

#: builder name -> function; ``interface`` builds slab + electrolyte in one go
BUILDERS: dict[str, Callable[..., Atoms]] = {
    "li_bulk": li_bulk,
    "li_slab": li_slab,
    "li_defect": li_defect,
    "electrolyte_box": electrolyte_box,
    "interface": li_interface,
    "sei_phase": sei_phase,
    "sei_defect": sei_defect,
    "sei_interface": sei_li_interface,
    "ledc_box": ledc_box,
    "molecule": molecule,
}


class SamplingSteps(StrictModel):
    seed: int = 0
    fragments: list[Fragment] = Field(default_factory=list)
    volume: Optional[tuple[float, float]] = None
    strain: Optional[float] = None
    rattle: Optional[float] = None
    config_type: Optional[str] = None


_MODELS: dict[str, type[StrictModel]] = {}


def spec_model(name: str) -> type[StrictModel]:
    """The strict pydantic model of a builder's spec (its keyword arguments + sampling steps)."""
    if name not in _MODELS:
        fn = BUILDERS[name]
        hints = get_type_hints(fn)  # resolves the string annotations of `from __future__ import annotations`
        fields: dict[str, Any] = {}
        for p in inspect.signature(fn).parameters.values():
            ann = hints.get(p.name, Any)
            fields[p.name] = (ann, ... if p.default is inspect.Parameter.empty else p.default)
        for key, field in SamplingSteps.model_fields.items():
            if key not in fields:
                fields[key] = (field.annotation, field)
        _MODELS[name] = create_model(f"{name}_spec", __base__=StrictModel, **fields)
    return _MODELS[name]


def build_from_spec(spec: dict[str, Any], where: str = "spec") -> Atoms:
    """Build the structure a spec describes (see the module docstring)."""
    if not isinstance(spec, dict):
        raise UserError(f"a structure spec must be a mapping, got {type(spec).__name__}", where)
    spec = dict(spec)
    name = spec.pop("builder", None)
    if name is None:
        raise UserError(f"builder: missing (one of {', '.join(BUILDERS)})", where)
    if name not in BUILDERS:
        raise UserError(f"builder: unknown builder {name!r} (known: {', '.join(BUILDERS)})", where)
    params = validate(spec_model(name), spec, where).model_dump()
    steps = {k: params.pop(k) for k in SamplingSteps.model_fields if k not in inspect.signature(BUILDERS[name]).parameters}
    seed = params.get("seed", steps.get("seed", 0))
    try:
        atoms = BUILDERS[name](**params)
        for k, frag in enumerate(steps.get("fragments") or []):
            atoms = add_fragment(atoms, frag, seed=seed + 1000 * (k + 1))
        if steps.get("volume"):
            atoms = scale_volume(atoms, steps["volume"], seed=seed)
        if steps.get("strain"):
            atoms = strain(atoms, steps["strain"], seed=seed)
        if steps.get("rattle"):
            atoms = rattle(atoms, steps["rattle"], seed=seed)
    except UserError as exc:
        raise UserError(str(exc), where) from None
    atoms.info["builder"] = name
    atoms.info["seed"] = seed
    if steps.get("config_type"):
        atoms.info["config_type"] = steps["config_type"]
    return atoms
