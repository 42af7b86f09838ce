"""Oracle configurations: one typed model per reference method, chosen by ``kind``.

YAML examples (the ``oracle:`` section of a labelling or campaign config)::

    oracle: {kind: tblite}                        # the default: GFN1-xTB, tblite's defaults

    oracle:
      kind: cp2k                                  # Debian: apt-get install cp2k (+ cp2k-data)
      cutoff_ry: 400
      smearing_temperature_k: 500

    oracle:
      kind: vasp                                  # command from $ASE_VASP_COMMAND / $VASP_COMMAND,
      encut: 520                                  # POTCARs from $VASP_PP_PATH
      kspacing: 0.25

    oracle:
      kind: espresso                              # pw.x from $ASE_ESPRESSO_COMMAND or PATH,
      pseudopotentials: {Li: li_pbe_v1.4.uspp.F.UPF, H: h_pbe_v1.4.uspp.F.UPF}   # $ESPRESSO_PSEUDO

    oracle: {kind: gpaw, ecut: 500}               # PAW setups from $GPAW_SETUP_PATH

Every oracle labels fully periodic cells and reports the force-consistent (free) energy.
Fields that only say *where* or *how* a program runs (``command``, ``workdir``,
``keep_files``) are left out of the fingerprint that keys cached labels; everything that can
change a number is in it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError

from mlip.config import StrictModel
from mlip.errors import UserError

RUNTIME_ONLY_FIELDS = {"command", "workdir", "keep_files"}


class TBLiteConfig(StrictModel):
    """tblite's ``TBLite(method=...)`` with tblite's own defaults unless a field is set."""

    kind: Literal["tblite"] = "tblite"
    method: Literal["GFN1-xTB", "GFN2-xTB", "IPEA1-xTB"] = "GFN1-xTB"
    accuracy: float | None = Field(None, gt=0, description="tblite default 1.0")
    electronic_temperature: float | None = Field(None, ge=0, description="K; tblite default 300")
    max_iterations: int | None = Field(None, ge=1, description="SCF cycles; tblite default 250")


class _FileOracleConfig(StrictModel):
    workdir: str | None = Field(None, description="parent of per-call scratch dirs (default: system temp)")
    keep_files: bool = Field(False, description="keep each call's scratch dir (inputs/outputs)")


class CP2KConfig(_FileOracleConfig):
    """CP2K (Quickstep GPW) through ASE's CP2K shell calculator.

    PBE, GTH pseudopotentials, the DZVP-MOLOPT-SR-GTH basis, Fermi-Dirac smearing with
    Broyden mixing (metals need both), analytic stress. ``command`` defaults to the first of
    ``$ASE_CP2K_COMMAND``, ``cp2k_shell``, ``cp2k.psmp -s``, ``cp2k.ssmp -s``, ``cp2k -s`` found.
    Basis and pseudopotential files are found by CP2K itself (``$CP2K_DATA_DIR`` or its built-in
    data dir; Debian: /usr/share/cp2k) unless ``data_dir`` is given.
    """

    kind: Literal["cp2k"] = "cp2k"
    command: str | None = None
    xc: str = "PBE"
    basis_set: str = "DZVP-MOLOPT-SR-GTH"
    basis_set_file: str = "BASIS_MOLOPT"
    pseudo_potential: str = "GTH-PBE"
    potential_file: str = "GTH_POTENTIALS"
    data_dir: str | None = None
    cutoff_ry: float = Field(400.0, gt=0, description="finest grid cutoff, Ry")
    rel_cutoff_ry: float = Field(50.0, gt=0, description="relative cutoff, Ry")
    smearing_temperature_k: float = Field(500.0, gt=0, description="Fermi-Dirac electronic temperature, K")
    added_mos: int | None = Field(None, ge=1, description="extra orbitals for smearing (default: max(10, natoms))")
    max_scf: int = Field(100, ge=1)
    eps_scf: float = Field(1e-6, gt=0)
    mixing_alpha: float = Field(0.2, gt=0, le=1)
    uks: bool = False
    input_template: str | None = Field(
        None, description="raw CP2K input replacing the generated &SCF/&MGRID template (no coordinates)"
    )


class VaspConfig(_FileOracleConfig):
    """VASP through ASE's ``Vasp`` calculator.

    ``command`` defaults to ``$ASE_VASP_COMMAND`` / ``$VASP_COMMAND`` / ``$VASP_SCRIPT``;
    POTCARs come from ``pp_path`` or ``$VASP_PP_PATH`` (folder holding ``potpaw_PBE``).
    ``extra`` passes any further INCAR keyword (e.g. ``ncore``, ``ivdw``).
    """

    kind: Literal["vasp"] = "vasp"
    command: str | None = None
    pp_path: str | None = None
    xc: str = "PBE"
    encut: float = Field(520.0, gt=0, description="eV")
    kspacing: float | None = Field(None, gt=0, description="1/Å; when unset, kpts is used")
    kpts: tuple[int, int, int] = (1, 1, 1)
    gamma: bool = True
    ismear: int = -1
    sigma: float = Field(0.05, gt=0, description="eV")
    ediff: float = Field(1e-6, gt=0)
    nelm: int = Field(100, ge=1)
    prec: str = "Accurate"
    lreal: str | bool = "Auto"
    algo: str = "Normal"
    setups: dict[str, str] = Field(default_factory=lambda: {"Li": "_sv"})
    extra: dict[str, Any] = Field(default_factory=dict)


class EspressoConfig(_FileOracleConfig):
    """Quantum ESPRESSO pw.x through ASE's ``Espresso`` calculator.

    ``command`` defaults to ``$ASE_ESPRESSO_COMMAND`` or ``pw.x``; ``pseudo_dir`` to
    ``$ESPRESSO_PSEUDO`` or ``~/espresso/pseudo``. ``pseudopotentials`` maps every element to
    its UPF file. ``input_data`` is merged over the generated namelists.
    """

    kind: Literal["espresso"] = "espresso"
    command: str | None = None
    pseudo_dir: str | None = None
    pseudopotentials: dict[str, str] = Field(default_factory=dict)
    ecutwfc: float = Field(60.0, gt=0, description="Ry")
    ecutrho: float | None = Field(480.0, gt=0, description="Ry")
    smearing: str = "fd"
    degauss: float = Field(0.005, gt=0, description="Ry")
    conv_thr: float = Field(1e-8, gt=0)
    electron_maxstep: int = Field(100, ge=1)
    mixing_beta: float = Field(0.3, gt=0, le=1)
    kpts: tuple[int, int, int] | None = None
    input_data: dict[str, Any] = Field(default_factory=dict)


class GPAWConfig(_FileOracleConfig):
    """GPAW plane-wave mode (stress needs PW) in the worker process; setups from
    ``$GPAW_SETUP_PATH``. ``extra`` passes further GPAW keywords."""

    kind: Literal["gpaw"] = "gpaw"
    xc: str = "PBE"
    ecut: float = Field(500.0, gt=0, description="plane-wave cutoff, eV")
    kpts: tuple[int, int, int] = (1, 1, 1)
    smearing_width: float = Field(0.05, gt=0, description="Fermi-Dirac width, eV")
    maxiter: int = Field(333, ge=1)
    extra: dict[str, Any] = Field(default_factory=dict)


OracleConfig = Annotated[
    Union[TBLiteConfig, CP2KConfig, VaspConfig, EspressoConfig, GPAWConfig],
    Field(discriminator="kind"),
]
ORACLE_KINDS = ("tblite", "cp2k", "vasp", "espresso", "gpaw")
_adapter: TypeAdapter = TypeAdapter(OracleConfig)


def parse_oracle_config(data: dict[str, Any] | None, where: str = "oracle") -> Any:
    """Validate an ``oracle`` mapping (``kind`` defaults to tblite) or raise a one-line UserError."""
    data = dict(data or {})
    data.setdefault("kind", "tblite")
    if data["kind"] not in ORACLE_KINDS:
        raise UserError(f"kind: unknown oracle {data['kind']!r} (choose from {', '.join(ORACLE_KINDS)})", where)
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"][1:]) or "(top level)"
        raise UserError(f"{loc}: {err['msg']}", where) from None


def fingerprint(config) -> str:
    """A short hash of everything in ``config`` that can change a label (see RUNTIME_ONLY_FIELDS)."""
    data = config.model_dump(mode="json", exclude=RUNTIME_ONLY_FIELDS)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return f"{data['kind']}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def make_oracle(config=None):
    """The oracle for ``config`` (a config model, a mapping, or None for the GFN1-xTB default)."""
    if config is None or isinstance(config, dict):
        config = parse_oracle_config(config)
    if isinstance(config, TBLiteConfig):
        from active_learning.oracles.tblite import TBLiteOracle

        return TBLiteOracle(config)
    if isinstance(config, CP2KConfig):
        from active_learning.oracles.cp2k import CP2KOracle

        return CP2KOracle(config)
    from active_learning.oracles import cluster

    if isinstance(config, VaspConfig):
        return cluster.VaspOracle(config)
    if isinstance(config, EspressoConfig):
        return cluster.EspressoOracle(config)
    if isinstance(config, GPAWConfig):
        return cluster.GPAWOracle(config)
    raise TypeError(f"not an oracle config: {config!r}")
