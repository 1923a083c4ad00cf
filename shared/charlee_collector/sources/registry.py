"""The source key (``freelance_platforms.source``) -> its adapter. Add a source here and only here."""

from __future__ import annotations

from charlee_collector.core.errors import InvalidPlatformConfig
from charlee_collector.sources.arbeitnow import ArbeitnowSource
from charlee_collector.sources.ashby import AshbySource
from charlee_collector.sources.base import Source
from charlee_collector.sources.feeds.rss import RssSource
from charlee_collector.sources.freelancer_com import FreelancerComSource
from charlee_collector.sources.greenhouse import GreenhouseSource
from charlee_collector.sources.himalayas import HimalayasSource
from charlee_collector.sources.hn_freelancer import HnFreelancerSource
from charlee_collector.sources.jobicy import JobicySource
from charlee_collector.sources.json_api import JsonApiSource
from charlee_collector.sources.landingjobs import LandingJobsSource
from charlee_collector.sources.lever import LeverSource
from charlee_collector.sources.recruitee import RecruiteeSource
from charlee_collector.sources.remoteok import RemoteOkSource
from charlee_collector.sources.remotive import RemotiveSource
from charlee_collector.sources.smartrecruiters import SmartRecruitersSource
from charlee_collector.sources.upwork import UpworkSource
from charlee_collector.sources.workable import WorkableSource
from charlee_collector.sources.workingnomads import WorkingNomadsSource

REGISTRY: dict[str, Source] = {
    source.key: source
    for source in (
        RssSource(),
        RemoteOkSource(),
        RemotiveSource(),
        HimalayasSource(),
        ArbeitnowSource(),
        JobicySource(),
        HnFreelancerSource(),
        FreelancerComSource(),
        JsonApiSource(),
        GreenhouseSource(),
        LeverSource(),
        AshbySource(),
        SmartRecruitersSource(),
        WorkableSource(),
        RecruiteeSource(),
        WorkingNomadsSource(),
        LandingJobsSource(),
        UpworkSource(),
    )
}


def get_source(key: str) -> Source:
    """The adapter for ``key``; ``InvalidPlatformConfig`` (listing the known keys) otherwise."""
    try:
        return REGISTRY[key]
    except (KeyError, TypeError):
        known = ", ".join(sorted(REGISTRY))
        raise InvalidPlatformConfig(
            f"unknown source {key!r}: the platform's source must be one of {known}"
        ) from None
