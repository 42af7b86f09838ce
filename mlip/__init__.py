"""seimlip's machine-learning interatomic potential: data, model, training and deployment."""

from mlip.errors import UserError
from mlip.version import __version__

__all__ = ["UserError", "__version__", "load_calculator"]


def load_calculator(model, **kwargs):
    """An ASE calculator for ``model``: a deployed file, a checkpoint or a shipped model's name."""
    from mlip.deploy import load_calculator as _load

    return _load(model, **kwargs)
