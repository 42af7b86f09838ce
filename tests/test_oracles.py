"""Oracles label real tiny cells (tblite always, CP2K where installed) and record failures.

Every cell here is 2 atoms so that each test takes seconds on one core.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from active_learning.oracles import (
    CalculatorOracle,
    CP2KConfig,
    EspressoConfig,
    GPAWConfig,
    LabelResult,
    Oracle,
    OracleFailure,
    TBLiteConfig,
    VaspConfig,
    fingerprint,
    make_oracle,
    parse_oracle_config,
)
from active_learning.oracles.cluster import EspressoOracle, GPAWOracle, VaspOracle
from active_learning.oracles.cp2k import CP2KOracle
from active_learning.oracles.tblite import TBLiteOracle
from mlip.errors import UserError

HAVE_CP2K = shutil.which("cp2k_shell") or shutil.which("cp2k.psmp") or shutil.which("cp2k")
needs_cp2k = pytest.mark.skipif(not HAVE_CP2K, reason="cp2k not on PATH (apt-get install -y cp2k)")


def li_bcc() -> Atoms:
    atoms = bulk("Li", "bcc", a=3.44, cubic=True)
    atoms.positions[1] += [0.05, -0.03, 0.02]  # off the symmetric site: non-zero forces
    atoms.info["config_type"] = "li_bulk"
    atoms.info["note"] = "kept"
    return atoms


def h2_box() -> Atoms:
    atoms = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]], cell=[4.0, 4.0, 4.0], pbc=True)
    atoms.center()
    return atoms


# --- tblite ------------------------------------------------------------------------------------


def test_tblite_labels_periodic_cell_like_a_direct_call():
    from tblite.ase import TBLite

    atoms = li_bcc()
    result = make_oracle(None).label(atoms)
    assert isinstance(result, LabelResult) and result.ok, result.reason
    lab = result.atoms
    assert np.isfinite(lab.info["energy"])
    assert lab.arrays["forces"].shape == (2, 3) and np.abs(lab.arrays["forces"]).max() > 1e-3
    assert np.allclose(lab.arrays["forces"].sum(axis=0), 0.0, atol=1e-8)
    assert lab.info["stress"].shape == (6,)
    assert lab.info["oracle"] == "tblite/GFN1-xTB" and lab.calc is None
    assert lab.info["config_type"] == "li_bulk" and lab.info["note"] == "kept"
    assert "energy" not in atoms.info and atoms.calc is None  # the input is untouched

    ref = atoms.copy()
    ref.calc = TBLite(method="GFN1-xTB", verbosity=0)
    assert lab.info["energy"] == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    assert np.allclose(lab.arrays["forces"], ref.get_forces(), atol=1e-8)
    assert np.allclose(lab.info["stress"], ref.get_stress(), atol=1e-10)
    assert result.seconds > 0


def test_tblite_labels_fully_periodic_even_when_frame_says_slab():
    from tblite.ase import TBLite

    atoms = li_bcc()
    atoms.pbc = [True, True, False]
    lab = make_oracle(TBLiteConfig()).label(atoms).atoms
    assert lab.pbc.all()
    ref = atoms.copy()
    ref.pbc = True
    ref.calc = TBLite(method="GFN1-xTB", verbosity=0)
    assert lab.info["energy"] == pytest.approx(ref.get_potential_energy(), abs=1e-8)


def test_frame_without_cell_is_a_recorded_failure():
    atoms = Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])
    result = make_oracle(None).label(atoms)
    assert not result.ok and result.atoms is None
    assert result.reason == "periodic frame without a cell"
    assert not result.retryable


def test_unconverged_tblite_scf_is_a_failure_not_a_label():
    result = make_oracle({"kind": "tblite", "max_iterations": 1}).label(li_bcc())
    assert not result.ok
    assert result.reason.startswith("scf_not_converged:"), result.reason


class _FakeCalc(Calculator):
    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if self.mode == "raise":
            raise RuntimeError("segmentation fault in the fake code\nsecond line")
        n = len(self.atoms)
        energy = float("nan") if self.mode == "nan" else -1.0
        self.results = {"energy": energy, "free_energy": energy, "forces": np.zeros((n, 3)), "stress": np.zeros(6)}


class _FakeOracle(CalculatorOracle):
    name = "fake"

    def __init__(self, mode: str):
        self.mode = mode

    @contextmanager
    def calculator(self, frame):
        yield _FakeCalc(self.mode)


def test_non_finite_labels_and_crashes_are_recorded_not_raised():
    nan = _FakeOracle("nan").label(li_bcc())
    assert not nan.ok and nan.reason == "non_finite: energy contain NaN/inf"
    crash = _FakeOracle("raise").label(li_bcc())
    assert not crash.ok and crash.reason == "crash: RuntimeError: segmentation fault in the fake code"
    assert crash.retryable
    ok = _FakeOracle("ok").label(li_bcc())
    assert ok.ok and ok.atoms.info["energy"] == -1.0
    assert isinstance(_FakeOracle("ok"), Oracle)


# --- configuration -----------------------------------------------------------------------------


def test_oracle_configs_validate_and_build():
    assert isinstance(parse_oracle_config(None), TBLiteConfig)
    assert parse_oracle_config({"kind": "cp2k"}).cutoff_ry == 400
    assert isinstance(make_oracle(None), TBLiteOracle)
    assert isinstance(make_oracle({"kind": "cp2k"}), CP2KOracle)
    assert isinstance(make_oracle(VaspConfig()), VaspOracle)
    assert isinstance(make_oracle(EspressoConfig()), EspressoOracle)
    assert isinstance(make_oracle(GPAWConfig()), GPAWOracle)
    # tblite: exactly TBLite(method="GFN1-xTB") unless the user sets something
    assert make_oracle(None).calculator_kwargs() == {"method": "GFN1-xTB", "verbosity": 0}
    assert make_oracle({"accuracy": 0.1}).calculator_kwargs()["accuracy"] == 0.1
    with pytest.raises(UserError, match="unknown oracle 'orca'"):
        parse_oracle_config({"kind": "orca"})
    with pytest.raises(UserError, match="cutof: Extra inputs are not permitted"):
        parse_oracle_config({"kind": "cp2k", "cutof": 300})
    with pytest.raises(UserError, match="max_iterations"):
        parse_oracle_config({"max_iterations": 0})


def test_fingerprint_ignores_where_a_program_runs_but_not_its_settings():
    base = fingerprint(CP2KConfig())
    assert fingerprint(CP2KConfig(command="mpiexec -np 4 cp2k.psmp -s", workdir="/scratch")) == base
    assert fingerprint(CP2KConfig(cutoff_ry=600)) != base
    assert fingerprint(TBLiteConfig()) != fingerprint(TBLiteConfig(method="GFN2-xTB"))


# --- VASP, Quantum ESPRESSO, GPAW: construction and honest failures ------------------------------


def test_missing_vasp_is_a_recorded_failure(monkeypatch):
    for var in ("ASE_VASP_COMMAND", "VASP_COMMAND", "VASP_SCRIPT"):
        monkeypatch.delenv(var, raising=False)
    unset = make_oracle({"kind": "vasp"}).label(h2_box())
    assert not unset.ok and unset.reason.startswith("executable_not_found: vasp executable not found")
    missing = make_oracle({"kind": "vasp", "command": "vasp_std_not_installed"}).label(h2_box())
    assert missing.reason == "executable_not_found: vasp executable not found: 'vasp_std_not_installed'"
    monkeypatch.setenv("ASE_VASP_COMMAND", "mpirun -np 4 vasp_gam_not_installed")
    from_env = make_oracle({"kind": "vasp"}).label(h2_box())
    assert "vasp_gam_not_installed" in from_env.reason


def test_vasp_calculator_construction(tmp_path):
    from ase.calculators.vasp import Vasp

    oracle = VaspOracle(VaspConfig(command="vasp_std", encut=450, kspacing=0.3, extra={"ncore": 4}))
    calc = Vasp(**oracle.calculator_kwargs(str(tmp_path)))
    assert calc.float_params["encut"] == 450 and calc.float_params["kspacing"] == 0.3
    assert calc.int_params["isif"] == 2 and calc.int_params["ismear"] == -1 and calc.int_params["ncore"] == 4
    assert calc.input_params["setups"] == {"Li": "_sv"} and calc.input_params["xc"] == "PBE"


def test_espresso_construction_and_failures(tmp_path, monkeypatch):
    from ase.calculators.espresso import Espresso

    monkeypatch.delenv("ASE_ESPRESSO_COMMAND", raising=False)
    result = make_oracle({"kind": "espresso"}).label(h2_box())
    assert result.reason == "executable_not_found: espresso executable not found: 'pw.x'"
    oracle = EspressoOracle(
        EspressoConfig(pseudopotentials={"H": "H.pbe.UPF"}, pseudo_dir=str(tmp_path), input_data={"system": {"nspin": 2}})
    )
    kwargs = oracle.calculator_kwargs(h2_box(), str(tmp_path))
    calc = Espresso(**kwargs)
    data = kwargs["input_data"]
    assert data["control"]["tstress"] and data["control"]["tprnfor"]
    assert data["system"]["occupations"] == "smearing" and data["system"]["nspin"] == 2
    assert calc.parameters["pseudopotentials"] == {"H": "H.pbe.UPF"}
    with pytest.raises(OracleFailure, match="no pseudopotential given for Li"):
        oracle.calculator_kwargs(li_bcc(), str(tmp_path))


def test_gpaw_missing_is_a_recorded_failure():
    pytest.importorskip("ase")
    try:
        import gpaw  # noqa: F401
    except ImportError:
        result = make_oracle({"kind": "gpaw"}).label(h2_box())
        assert result.reason.startswith("not_installed: gpaw is not installed")
    else:  # pragma: no cover - only where GPAW is installed
        assert GPAWOracle().calculator_kwargs("/tmp")["xc"] == "PBE"


# --- CP2K ---------------------------------------------------------------------------------------


def test_cp2k_missing_executable_is_a_recorded_failure():
    result = make_oracle({"kind": "cp2k", "command": "no-such-cp2k -s"}).label(h2_box())
    assert not result.ok
    assert result.reason == "executable_not_found: cp2k executable not found: 'no-such-cp2k -s'"


@pytest.mark.cp2k
@needs_cp2k
def test_cp2k_labels_h2_in_a_box():
    atoms = h2_box()
    atoms.info["config_type"] = "h2"
    result = make_oracle({"kind": "cp2k", "cutoff_ry": 300}).label(atoms)
    assert result.ok, result.reason
    lab = result.atoms
    # PBE/GTH/DZVP-MOLOPT H2 near its bond length: about -32.08 eV, small opposite forces
    assert lab.info["energy"] == pytest.approx(-32.08, abs=0.05)
    forces = lab.arrays["forces"]
    assert np.allclose(forces.sum(axis=0), 0.0, atol=2e-3)
    assert np.abs(forces).max() < 0.5
    assert lab.info["stress"].shape == (6,) and np.isfinite(lab.info["stress"]).all()
    assert lab.info["oracle"] == "cp2k/PBE" and lab.info["config_type"] == "h2"


@pytest.mark.cp2k
@needs_cp2k
def test_cp2k_unconverged_scf_is_a_failure():
    result = make_oracle({"kind": "cp2k", "cutoff_ry": 300, "max_scf": 2}).label(h2_box())
    assert not result.ok
    assert result.reason == "scf_not_converged: CP2K reports 'SCF run NOT converged'"


@pytest.mark.cp2k
@needs_cp2k
def test_cp2k_abort_is_recorded_with_its_message():
    result = make_oracle({"kind": "cp2k", "cutoff_ry": 300, "basis_set": "NO-SUCH-BASIS"}).label(h2_box())
    assert not result.ok
    assert result.reason.startswith("crash: CP2K aborted:") and "NO-SUCH-BASIS" in result.reason
