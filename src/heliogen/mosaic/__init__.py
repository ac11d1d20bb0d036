"""Arbitrarily large granulation mosaics from a tile bank (granulation thesis sec. 3.4):
greedy seam matching (eqs. 3-5), alpha and latent blending, GA refinement of z, a streaming
writer and the seam metric."""

from .bank import TileBank, bank_from_arrays, bank_from_run, bank_from_store, open_bank
from .build import GreedyMatcher, build_mosaic, parse_grid
from .matching import alpha_weights, gaussian_kernel, greedy_reference, mosaic_side, strip_distance
from .refine import GASettings, refine_z
from .seams import seam_metric

__all__ = ["TileBank", "open_bank", "bank_from_run", "bank_from_store", "bank_from_arrays", "GreedyMatcher", "build_mosaic",
           "parse_grid", "alpha_weights", "gaussian_kernel", "greedy_reference", "mosaic_side", "strip_distance", "GASettings",
           "refine_z", "seam_metric"]
