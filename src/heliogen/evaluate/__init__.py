"""heliogen's evaluation suite, grouped by role:

* :mod:`.features` - the feature-extractor registry, the extractors and the feature cache;
* :mod:`.metrics` - distribution, pairwise, physics, Fourier, uncertainty, classifier,
  ranking and human-study metrics, one module each;
* :mod:`.commands` - the pipelines behind ``heliogen evaluate``, one module per subcommand;
* :mod:`.io`, :mod:`.schema` and :mod:`.report` - reading image sets into model space, the
  metrics JSON, and the HTML report.

The networks the extractors and LPIPS run are in :mod:`heliogen.models.backbones`.
Conventions are stated in each module and recorded in the metrics JSON (``schema.py``).
"""

from .commands.classify import evaluate_classifier
from .commands.distribution import METRICS, evaluate_distribution
from .commands.pairs import evaluate_pairs
from .commands.uncertainty import evaluate_uncertainty
from .features import FeatureExtractor, available_extractors, extract_features, get_extractor, register_extractor
from .io import ImageSet, load_images, load_pair
from .metrics.classifier import augmentation_experiment, generated_class_scores, per_class_scores, train_classifier
from .metrics.cluster import cluster_metrics, halves_benchmark
from .metrics.fd import fd_from_features, frechet_distance, gaussian_stats
from .metrics.fourier import amplitude_spectrum, cutoff_radius_px, radial_power_spectrum, small_scale_power_fraction
from .metrics.histogram import pixel_stats
from .metrics.human_study import human_study
from .metrics.kid import kid
from .metrics.lpips import LPIPS
from .metrics.pairwise import mae, mse, psnr, ssim
from .metrics.patch_fd import patch_fd
from .metrics.physics import ar_area, locate_active_region, net_flux, percent_error, physics_metrics, unsigned_flux
from .metrics.prdc import prdc
from .metrics.ranking import rank_metrics
from .metrics.uncertainty import butterworth_highpass, pixel_std, split_uncertainty
from .schema import SCHEMA, read_metrics, write_metrics

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
