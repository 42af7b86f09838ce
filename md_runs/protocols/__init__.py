"""MD protocols: ``sei_formation`` (Li slab + electrolyte) and ``li_transport`` (SEI phases).

:func:`run_protocol` builds each system, minimises, equilibrates and runs production MD with
LAMMPS (default) or ASE, writing one run directory per (system, temperature) in the format of
:mod:`md_runs.trajectory`, with restarts, resume after a kill and safety monitors.
"""

from md_runs.protocols.config import (LiTransportConfig, MonitorConfig, ProtocolConfig, SeiFormationConfig,
                                      load_protocol)
from md_runs.protocols.monitors import CANDIDATES_FILE, MONITOR_EXIT_CODE, MonitorStop
from md_runs.protocols.runner import run_protocol

__all__ = [
    "CANDIDATES_FILE",
    "LiTransportConfig",
    "MONITOR_EXIT_CODE",
    "MonitorConfig",
    "MonitorStop",
    "ProtocolConfig",
    "SeiFormationConfig",
    "load_protocol",
    "run_protocol",
]
