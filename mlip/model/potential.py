"""The potential: per-atom energies from species and edge vectors, and its portable state."""

from __future__ import annotations

import json
from typing import List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from mlip.errors import UserError, first_line
from mlip.config import validate
from mlip.model.config import ModelConfig
from mlip.nn.grouping import group_edges
from mlip.nn import BesselBasis, InteractionBlock, PolynomialEnvelope, RadialMLP, SphericalHarmonics, ZBLRepulsion

FORMAT_VERSION = 2


class Potential(nn.Module):
    """E_i = E0[z_i] + scale * sum_t readout_t(h_i^t) + shift (+ ZBL_i).

    With ``readout_heads`` K > 1 the last readout has K heads (a shallow ensemble).

    ``forward(species [N] int64, edge_index [2,E] (centre i, neighbour j), edge_vec [E,3] = r_j - r_i
    (+ shift))`` returns the per-atom energies of each readout head [N, K] in eV (K = 1 without a
    shallow ensemble); :class:`mlip.model.output.ForceStressOutput` takes their mean and derivatives. Positions enter only through ``edge_vec``, so
    periodic images and LAMMPS ghost atoms are served alike; edges longer than the cutoff contribute
    nothing. TorchScript-able.
    """

    # TorchScript must never look at the pydantic config: whether it tries to compile the class
    # depends on which of pydantic's lazily attached methods exist yet (a flaky
    # "cannot compile ModelConfig.preset" when many models are scripted in one process)
    __jit_ignored_attributes__ = ["config"]

    def __init__(
        self,
        config: ModelConfig,
        species: Sequence[str],
        atomic_energies: Mapping[str, float] | None = None,
        scale: float = 1.0,
        shift: float = 0.0,
    ):
        super().__init__()
        species = [str(s) for s in species]
        if len(set(species)) != len(species) or not species:
            raise UserError(f"model species must be distinct and non-empty, got {species}")
        atomic_energies = dict(atomic_energies or {})
        unknown = sorted(set(atomic_energies) - set(species))
        if unknown:
            raise UserError(f"atomic energies given for elements not in the species list: {', '.join(unknown)}")
        self.config = config
        self.config_dict = config.model_dump(mode="json")
        self.config_json = json.dumps(self.config_dict, sort_keys=True)
        self.species = species
        self.cutoff = float(config.cutoff)
        self.num_species = len(species)
        self.use_zbl = bool(config.zbl)
        self.n_heads = int(config.readout_heads)
        self.group_size = 128  # atoms per batched neighbour product (speed only; see mlip.nn.grouping)
        self.n_groups = 4  # at least this many groups (torch.export sets 1 group of any size)
        c = config.channels
        with _default_dtype(torch.float64):
            # built in float64 (exact Clebsch-Gordan buffers), cast below
            self.embedding = nn.Parameter(torch.randn(len(species), c))
            self.sh = SphericalHarmonics(config.sh_lmax)
            self.bessel = BesselBasis(config.cutoff, config.n_radial)
            self.envelope = PolynomialEnvelope(config.cutoff, config.envelope_p)
            blocks = []
            for t in range(config.n_interactions):
                last = t == config.n_interactions - 1
                blocks.append(
                    InteractionBlock(
                        channels=c,
                        l_in=0 if t == 0 else config.l_max,
                        l_out=0 if last else config.l_max,
                        sh_lmax=config.sh_lmax,
                        correlation=config.correlation,
                        num_species=len(species),
                        avg_num_neighbors=config.avg_num_neighbors,
                        radial_rank=config.radial_rank,
                        readout_hidden=config.readout_hidden if last else 0,
                        readout_heads=config.readout_heads if last else 1,
                    )
                )
            self.blocks = nn.ModuleList(blocks)
            self.radial = RadialMLP(config.n_radial, config.radial_hidden, config.radial_layers, config.radial_rank)
            self.zbl = ZBLRepulsion(species, config.zbl_inner, config.zbl_outer)
            e0 = torch.tensor([float(atomic_energies.get(s, 0.0)) for s in species])
            self.register_buffer("atomic_energies", e0)
            self.register_buffer("scale", torch.tensor(float(scale)))
            self.register_buffer("shift", torch.tensor(float(shift)))
        self.to(config.torch_dtype)

    def forward(self, species: Tensor, edge_index: Tensor, edge_vec: Tensor) -> Tensor:
        r, feats, senders, position = self.prepare(species, edge_index, edge_vec, species.shape[0])
        h = self.embed(species)
        energies: List[Tensor] = []
        for block in self.blocks:
            h, e = block(h, species, feats, senders, position)
            energies.append(e)
        return self.readout(species, energies, edge_index, r)

    # The layers one at a time (forward is made of them; the LAMMPS halo exchange runs them with
    # ghost-atom features exchanged between ranks after each layer, see mlip.deploy.module).

    @torch.jit.export
    def prepare(self, species: Tensor, edge_index: Tensor, edge_vec: Tensor,
                n_centre: int) -> Tuple[Tensor, List[Tensor], List[Tensor], Tensor]:
        """``(r, feats, senders, position)``: edge lengths and the radial x angular edge features
        grouped per centre atom (:func:`mlip.nn.grouping.group_edges`); every edge's centre is one
        of the first ``n_centre`` atoms."""
        r = torch.linalg.vector_norm(edge_vec, dim=1)
        phi = self.radial(self.bessel(r)) * self.envelope(r).unsqueeze(-1)  # [E, R]
        y = self.sh(edge_vec)
        feat = (phi.unsqueeze(2) * y.unsqueeze(1)).reshape(r.shape[0], phi.shape[1] * y.shape[1])  # [E, R*D_sh]
        feats, senders, position = group_edges(feat, edge_index[0], edge_index[1], n_centre, self.n_groups,
                                               self.group_size)
        return r, feats, senders, position

    @torch.jit.export
    def embed(self, species: Tensor) -> Tensor:
        """The input features ``[1, N, C]`` of every atom."""
        return self.embedding.index_select(0, species).unsqueeze(0)

    @torch.jit.export
    def layer(self, t: int, h: Tensor, species: Tensor, feats: List[Tensor], senders: List[Tensor],
              position: Tensor) -> Tuple[Tensor, Tensor]:
        """Interaction block ``t``: (features [D, N_c, C], energies [N_c, 1 or K]) of the N_c =
        len(position) centre atoms from the features ``h`` [D, N, C] of all atoms."""
        out: Optional[Tuple[Tensor, Tensor]] = None
        for k, block in enumerate(self.blocks):
            if k == t:
                out = block(h, species, feats, senders, position)
        if out is None:
            raise IndexError("no such interaction block")
        return out

    @torch.jit.export
    def readout(self, species: Tensor, energies: List[Tensor], edge_index: Tensor, r: Tensor) -> Tensor:
        """Per-atom energies of each head ``[N_c, K]`` from the blocks' energies of the N_c centre
        atoms (E0, scale, shift and the ZBL repulsion of the edges of length ``r``)."""
        n_c = energies[0].shape[0]
        learned = torch.zeros(n_c, 1, dtype=r.dtype, device=r.device)
        for e in energies:
            learned = learned + e  # [N_c, 1] or [N_c, K]
        centres = species[:n_c]
        node = self.atomic_energies.index_select(0, centres).unsqueeze(1) + self.scale * learned + self.shift
        if self.use_zbl:
            node = node + self.zbl(species, edge_index[1], edge_index[0], r)[:n_c].unsqueeze(1)
        return node

    @torch.jit.unused
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @torch.jit.unused
    def to_state(self) -> dict:
        """Everything needed to rebuild the model, as plain tensors/str/float/int/list/dict
        (safe for ``torch.load(weights_only=True)``)."""
        return {
            "format_version": FORMAT_VERSION,
            "kind": "seimlip.Potential",
            "config": dict(self.config_dict),
            "species": list(self.species),
            "atomic_energies": {s: float(e) for s, e in zip(self.species, self.atomic_energies.tolist())},
            "scale": float(self.scale),
            "shift": float(self.shift),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
        }

    @classmethod
    @torch.jit.unused
    def from_state(cls, state: Mapping) -> "Potential":
        """Rebuild from ``to_state()``; UserError for anything else (e.g. another format version)."""
        if not isinstance(state, Mapping) or "format_version" not in state:
            raise UserError("not a seimlip model state (no format_version)")
        version = state["format_version"]
        if version != FORMAT_VERSION:
            raise UserError(
                f"model state has format version {version}, this seimlip reads version {FORMAT_VERSION}"
            )
        missing = [k for k in ("config", "species", "atomic_energies", "scale", "shift", "state_dict") if k not in state]
        if missing:
            raise UserError(f"model state lacks {', '.join(missing)}")
        config = validate(ModelConfig, dict(state["config"]), "model state config")
        model = cls(config, state["species"], state["atomic_energies"], state["scale"], state["shift"])
        try:
            model.load_state_dict(state["state_dict"])
        except RuntimeError as exc:
            raise UserError(f"model state does not match its config: {first_line(exc)}") from None
        return model


class _default_dtype:
    def __init__(self, dtype):
        self.dtype = dtype

    def __enter__(self):
        self.old = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc):
        torch.set_default_dtype(self.old)


def build_model(
    config: ModelConfig,
    species: Sequence[str],
    atomic_energies: Mapping[str, float] | None = None,
    scale: float = 1.0,
    shift: float = 0.0,
) -> Potential:
    """A freshly initialised potential for ``species`` with reference energies E0 and the learned
    part scaled by ``scale`` and offset by ``shift`` per atom (eV)."""
    return Potential(config, species, atomic_energies, scale, shift)
