"""heliogen's evaluation suite: feature extractors, distribution, pairwise, physics,
Fourier, uncertainty, classifier, ranking and human-study metrics, and the report.

The same functions back ``heliogen evaluate``. Conventions are stated in each module and
recorded in the metrics JSON (``schema.py``).
"""

from .classifier import augmentation_experiment, evaluate_classifier, generated_class_scores, per_class_scores, train_classifier
from .cluster import cluster_metrics, halves_benchmark
from .distribution import METRICS, evaluate_distribution
from .fd import fd_from_features, frechet_distance, gaussian_stats
from .features import FeatureExtractor, available_extractors, extract_features, get_extractor, register_extractor
from .fourier import amplitude_spectrum, cutoff_radius_px, radial_power_spectrum, small_scale_power_fraction
from .human import human_study
from .io import ImageSet, load_images, load_pair
from .kid import kid
from .pairs import evaluate_pairs
from .pairwise import mae, mse, psnr, ssim
from .patch_fd import patch_fd
from .perceptual import LPIPS
from .physics import ar_area, locate_active_region, net_flux, percent_error, physics_metrics, unsigned_flux
from .pixels import pixel_stats
from .prdc import prdc
from .ranking import rank_metrics
from .schema import SCHEMA, read_metrics, write_metrics
from .uncertainty import butterworth_highpass, pixel_std, split_uncertainty
from .uncertainty_eval import evaluate_uncertainty

__all__ = [
    "augmentation_experiment", "evaluate_classifier", "generated_class_scores", "per_class_scores", "train_classifier", "cluster_metrics",
    "halves_benchmark", "METRICS", "evaluate_distribution", "fd_from_features", "frechet_distance",
    "gaussian_stats", "FeatureExtractor", "available_extractors", "extract_features", "get_extractor", "register_extractor",
    "amplitude_spectrum", "cutoff_radius_px", "radial_power_spectrum", "small_scale_power_fraction", "human_study",
    "ImageSet", "load_images", "load_pair", "kid", "evaluate_pairs", "mae", "mse", "psnr", "ssim", "patch_fd", "LPIPS",
    "ar_area", "locate_active_region", "net_flux", "percent_error", "physics_metrics", "unsigned_flux", "pixel_stats",
    "prdc", "rank_metrics", "SCHEMA", "read_metrics", "write_metrics", "butterworth_highpass", "pixel_std",
    "split_uncertainty", "evaluate_uncertainty",
]
