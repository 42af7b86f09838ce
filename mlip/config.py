"""YAML configuration files validated by pydantic models, with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_serializer

from mlip.errors import UserError
from mlip.utils import write_text_atomic

C = TypeVar("C", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class Overrides(StrictModel):
    """Base of :func:`overrides_model`: only the keys that were given are dumped (``None`` is a value)."""

    @model_serializer(mode="wrap")
    def _given_only(self, handler):
        given = getattr(self, "model_fields_set", None)  # None: a plain mapping put in by model_copy(update=)
        out = handler(self)
        return out if given is None else {k: v for k, v in out.items() if k in given}


def overrides_model(model: type[BaseModel], exclude: frozenset[str] = frozenset(), name: str | None = None,
                    deep: bool = False):
    """A model of overrides of ``model``'s keys: any subset of them, each checked as ``model``
    checks it (type and bounds), unknown keys and those in ``exclude`` refused; ``.model_dump()``
    gives just the keys given. A section (a nested model) given replaces the whole section, or
    with ``deep`` is itself overrides of that section (for configs merged key by key onto a
    shipped one). The model's own validators are not repeated (a key that a "before" validator
    rewrites, such as a ``{preset: small}`` model spec, is taken as given): the merged result is
    validated by ``model`` where it is used."""
    fields: dict[str, Any] = {}
    rewritten = {key for dec in model.__pydantic_decorators__.field_validators.values() if dec.info.mode == "before"
                 for key in dec.info.fields}  # e.g. a {preset: ...} spec: checked once merged, by ``model``
    for key, info in model.model_fields.items():
        if key in exclude:
            continue
        kind = info.annotation
        if key in rewritten:
            kind = Any
        elif deep and isinstance(kind, type) and issubclass(kind, BaseModel):
            kind = overrides_model(kind, deep=True)
        elif info.metadata:
            kind = Annotated[kind, *info.metadata]
        fields[key] = (Optional[kind], Field(None, description=info.description))
    return create_model(name or f"{model.__name__}Overrides", __base__=Overrides, **fields)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` on top, mappings merged key by key (lists and values replaced)."""
    out = dict(base)
    for key, value in override.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError("config file not found", str(path))
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"not valid YAML ({getattr(exc, 'problem', exc)})", where) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError("a config file must hold a mapping of keys to values", str(path))
    return data


def validate(model: type[C], data: dict[str, Any], where: str) -> C:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise UserError(f"{loc}: {err['msg']}{more}", where) from None


def load_config(model: type[C], path: str | Path | None, overrides: dict[str, Any] | None = None) -> C:
    """Load ``path`` (or the defaults when None) into ``model``, applying ``overrides`` on top."""
    data = read_yaml(path) if path is not None else {}
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return validate(model, data, str(path) if path else "config")


def dump_config(config: BaseModel, path: str | Path) -> None:
    """Write the resolved config (every default filled in) beside a run's outputs."""
    write_text_atomic(path, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
