"""The main job end to end: shipped data and model -> active learning -> MD -> analysis -> PyBaMM.

``seimlip quickstart`` runs :func:`~active_learning.pipeline.run.run_pipeline` on an embedded
config (``configs/quickstart.yaml``; ``--scale production`` picks
``configs/quickstart_production.yaml``). Each step writes its outputs under its own folder of the
run folder and, when it has finished, a record ``steps/<step>.json``; a step with a record is
skipped, and the long steps (campaign, MD) resume inside themselves, so an interrupted run
(SIGINT or SIGKILL) continues where it stopped. The whole config is checked before the first
step, and a resume with a config that changed in something a finished step used is refused.
Records name files relative to the run folder, so a copied or moved run folder resumes too.

- ``config``: :class:`QuickstartConfig`, the shipped configs, the dataset helpers;
- ``state``: :class:`Pipeline`, the run folder and its step records;
- ``steps``: the steps, each calling the library function its command calls (``PLAN``);
- ``check``: the pre-flight check of the whole config and of a resume;
- ``report``: the quickstart's report sections, on ``report_page`` (Markdown + HTML pages);
- ``run``: :func:`run_pipeline`, which runs them in order.
"""

from active_learning.pipeline.config import QuickstartConfig, load_quickstart_config
from active_learning.pipeline.run import run_pipeline

__all__ = ["QuickstartConfig", "load_quickstart_config", "run_pipeline"]
