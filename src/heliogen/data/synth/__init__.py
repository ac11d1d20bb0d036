"""The synthetic Sun: seeded, physically motivated, mutually consistent synthetic data.

heliogen ships no real SDO data, so these generators (all output is SYNTHETIC) are its
embedded default data. One seeded history (`SyntheticSun`: activity level, active
regions, flares) drives every kind, so for one seed and time the EUV image, the
magnetogram and the GOES curve show the same regions and flares.
"""

from .euv import synth_euv
from .goes import synth_goes
from .granulation import synth_granulation
from .history import SyntheticSun
from .magnetogram import synth_magnetogram
from .write import write_synth

__all__ = ["synth_euv", "synth_magnetogram", "synth_granulation", "synth_goes", "write_synth",
           "SyntheticSun"]
