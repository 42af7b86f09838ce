"""Turning a single-head potential into a shallow ensemble (fine-tuning with ``init_from``)."""

from __future__ import annotations

import torch

from mlip.errors import UserError
from mlip.model.config import ModelConfig
from mlip.model.potential import Potential
from mlip.nn.readout import EnsembleReadout

HEAD_INIT_NOISE = 0.05  # relative to each readout weight tensor's RMS


def with_readout_heads(model: Potential, heads: int, noise: float = HEAD_INIT_NOISE, seed: int = 0) -> Potential:
    """A copy of single-head ``model`` with ``heads`` readout heads: the backbone copied, every head
    initialised from the single head plus Gaussian noise (``noise`` x RMS of each weight)."""
    if heads == model.n_heads:
        return model
    if model.n_heads != 1:
        raise UserError(f"cannot change a {model.n_heads}-head model to {heads} heads (only 1 -> K)",
                        "model.readout_heads")
    config = ModelConfig(**{**model.config_dict, "readout_heads": heads})
    state = model.to_state()
    new = Potential(config, state["species"], state["atomic_energies"], state["scale"], state["shift"])
    last = f"blocks.{config.n_interactions - 1}.readout."
    backbone = {k: v for k, v in state["state_dict"].items() if not k.startswith(last)}
    missing, unexpected = new.load_state_dict(backbone, strict=False)
    if unexpected or any(not k.startswith(last) for k in missing):
        raise UserError("the initial model's weights do not fit the shallow-ensemble model", "init_from")
    readout = new.blocks[-1].readout
    assert isinstance(readout, EnsembleReadout)
    readout.copy_from_single(model.blocks[-1].readout, noise, torch.Generator().manual_seed(seed))
    return new.to(next(model.parameters()).dtype).train(model.training)
