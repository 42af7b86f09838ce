"""YAML configuration files validated by pydantic models, with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from mlip.errors import UserError
from mlip.utils import write_text_atomic

C = TypeVar("C", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


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
