"""The active-learning campaign service (``seimlip al``): explore with a committee, select by
uncertainty and diversity, label on an executor, retrain; all state in a campaign store.

Python API: :func:`init_campaign`, :func:`run_campaign`, :func:`submit_frames`,
:func:`campaign_status` (see ``service`` and ``loop``).
"""

from active_learning.campaign.config import CampaignConfig
from active_learning.campaign.loop import CampaignSummary, run_campaign
from active_learning.campaign.service import campaign_status, init_campaign, submit_frames
from active_learning.campaign.store import CampaignStore

__all__ = ["CampaignConfig", "CampaignStore", "CampaignSummary", "campaign_status", "init_campaign",
           "run_campaign", "submit_frames"]
