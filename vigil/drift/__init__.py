"""L1: drift statistics, drift monitors and alert rules, on the profile and tracking floors."""

from vigil.drift.compare import DriftResult, Thresholds, compare
from vigil.drift.model import ModelDriftMonitor
from vigil.drift.monitor import DataDriftMonitor, DriftMonitor

__all__ = ["DataDriftMonitor", "DriftMonitor", "DriftResult", "ModelDriftMonitor", "Thresholds", "compare"]
