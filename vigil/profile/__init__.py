"""L0: mergeable column profiles and sketches (the content of a drift snapshot)."""

from vigil.profile.categorical import CategoricalProfile, CategoricalSpec
from vigil.profile.frame import FrameProfile, Schema, profile
from vigil.profile.numeric import NumericProfile, choose_edges

__all__ = ["CategoricalProfile", "CategoricalSpec", "FrameProfile", "NumericProfile", "Schema",
           "choose_edges", "profile"]
