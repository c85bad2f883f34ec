"""L1: experiments, runs and tracking providers, on top of the store floor."""

from vigil.tracking.context import current_experiment
from vigil.tracking.provider import DefaultProvider, NoTrackProvider, TrackingProvider
from vigil.tracking.registry import known_providers, provider_class

__all__ = [
    "DefaultProvider", "NoTrackProvider", "TrackingProvider",
    "current_experiment", "known_providers", "provider_class",
]
