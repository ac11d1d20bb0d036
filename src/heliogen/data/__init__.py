"""heliogen's solar data pipeline: FITS in, preprocessing, the Zarr store, labels, datasets.

The same names back the ``heliogen data ...`` commands.
"""

from .build import BuildReport, build_store, resolve_inputs
from .dataset import StoreDataset
from .fitsio import read_map, write_map
from .goes import class_to_flux, goes_class, peak_flux, read_flare_list, read_xrs
from .labels import attach_labels
from .normalise import Normalisation
from .splits import split_by_time
from .store import Store, open_store

__all__ = [
    "BuildReport", "build_store", "resolve_inputs", "StoreDataset", "read_map", "write_map", "class_to_flux",
    "goes_class", "peak_flux", "read_flare_list", "read_xrs", "attach_labels", "Normalisation", "split_by_time",
    "Store", "open_store",
]
