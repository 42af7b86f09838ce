"""Structure builders: Li bulk/slabs, electrolyte boxes, interfaces, SEI phases, perturbations.

Every builder is deterministic given its ``seed``, returns a fully periodic ``ase.Atoms`` with a
cell and ``info['charge'] = 0`` (formal ion charges only for single ions from :func:`molecule`),
and has passed :func:`validate_structure` (per-pair minimum distances, neutrality).
"""

from md_runs.builders.crystals import LI_A, SEI_PHASES, li_bulk, li_slab, sei_phase
from md_runs.builders.defects import interstitial_sites, sei_defect
from md_runs.builders.li_defects import li_defect
from md_runs.builders.sei_interfaces import sei_li_interface
from md_runs.builders.molecules import MOLECULE_NAMES, molecule, molecule_geometry
from md_runs.builders.packing import default_density, electrolyte_box, ledc_box, pack
from md_runs.builders.perturb import rattle, scale_volume, strain
from md_runs.builders.spec import BUILDERS, build_from_spec
from md_runs.builders.surfaces import FRAGMENTS, add_fragment, interface, li_interface
from md_runs.builders.validate import MIN_DISTANCE, StructureReport, density_g_cm3, validate_structure

__all__ = [
    "BUILDERS",
    "FRAGMENTS",
    "LI_A",
    "MIN_DISTANCE",
    "MOLECULE_NAMES",
    "SEI_PHASES",
    "StructureReport",
    "add_fragment",
    "build_from_spec",
    "default_density",
    "density_g_cm3",
    "electrolyte_box",
    "interface",
    "ledc_box",
    "li_bulk",
    "li_defect",
    "li_interface",
    "li_slab",
    "molecule",
    "molecule_geometry",
    "pack",
    "rattle",
    "scale_volume",
    "sei_defect",
    "sei_li_interface",
    "sei_phase",
    "interstitial_sites",
    "strain",
    "validate_structure",
]
