"""Line-of-sight magnetogram preprocessing, as in the MDI-to-HMI super-resolution paper (sec. 2, 4).

Steps: MDI is first multiplied by 1/1.4 (its calibration against HMI, Liu et al. 2012);
values are clipped to +-3000 G (HMI's dynamic range) and off-disk NaNs set to 0. Whole
images are area-averaged to ``S x S`` on their own pixel grid (no re-centring, so pixels
stay aligned for super-resolution pairs). ``crop`` cuts ``C x C`` windows at native
resolution: centred on the disk, random, on the strongest active region, or at listed
helioprojective positions. ``pairs=f`` stores the ``f x f`` block mean beside each image,
the low-resolution twin the paper trains on. Stored values are Gauss; the division by
3000 happens on read (``linear`` normalisation). Each sample records the WCS reference of its
own grid (``crpix1/2``, ``crval1/2``): a crop keeps the helioprojective position of its source
pixels, not the disk centre (:func:`heliogen.data.grid_header.sample_header`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import BadInput, HeliogenError
from .orient import north_up
from .resample import area_resample, block_mean
from .record import Record, map_fields, window_pointing

__all__ = ["preprocess_magnetogram", "strongest_region_pixel", "check_magnetogram", "hmi_equivalent", "is_mdi", "B_CLIP", "MDI_TO_HMI", "CROP_MODES"]

B_CLIP = 3000.0  # G
MDI_TO_HMI = 1 / 1.4
CROP_MODES = ("center", "random", "ar", "list")
REQUIRED = ("DATE-OBS", "CDELT1", "CDELT2", "CRPIX1", "CRPIX2")


def strongest_region_pixel(field: np.ndarray, smooth_px: float = 8.0) -> tuple[int, int]:
    """(x, y) of the most intense active region: the peak of |B| smoothed over ``smooth_px``.

    Smoothing first makes the peak an extended region of strong field rather than one
    noisy pixel, as the paper's AR-centred crops intend.
    """
    strength = ndimage.gaussian_filter(np.abs(np.nan_to_num(field)), smooth_px)
    y, x = np.unravel_index(int(np.argmax(strength)), strength.shape)
    return int(x), int(y)


def is_mdi(smap) -> bool:
    return str(smap.instrument or "").upper().startswith("MDI")


def hmi_equivalent(data, mdi: bool) -> np.ndarray:
    """Field in HMI-equivalent Gauss: MDI scaled by 1/1.4, clipped to +-3000 G; NaN stays NaN."""
    field = np.asarray(data, dtype=np.float64)
    return np.clip(field * MDI_TO_HMI if mdi else field, -B_CLIP, B_CLIP)


def check_magnetogram(smap, source: str = "") -> None:
    """One-line BadInput for what is not a 2-D magnetogram with a helioprojective WCS."""
    meta = smap.meta
    content = str(meta.get("content", "")).upper()
    bunit = str(meta.get("bunit", "")).strip().lower()
    if "MAGNETOGRAM" not in content and bunit not in ("g", "gauss", "mx/cm2", "mx cm-2") and smap.measurement != "magnetogram":
        raise BadInput(f"not a magnetogram (CONTENT {meta.get('content', 'missing')!r}, BUNIT {meta.get('bunit', 'missing')!r})", source)
    missing = [k for k in ("ctype1", "ctype2", "cdelt1", "cdelt2", "crpix1", "crpix2", "crval1", "crval2") if k not in meta]
    if missing:
        raise BadInput(f"no WCS ({', '.join(k.upper() for k in missing)} missing)", source)


def _crop_corners(shape, crop, mode, rng, smap, positions, n_random):
    ny, nx = shape
    if crop > min(ny, nx):
        raise BadInput(f"crop {crop} is larger than the image ({ny}x{nx})")

    def clamp(x0, y0):
        return int(np.clip(x0, 0, nx - crop)), int(np.clip(y0, 0, ny - crop))

    if mode == "center":
        x, y = smap.wcs.wcs_world2pix([[0.0, 0.0]], 0)[0]
        return [clamp(round(x - crop / 2 + 0.5), round(y - crop / 2 + 0.5))]
    if mode == "random":
        return [(int(rng.integers(0, nx - crop + 1)), int(rng.integers(0, ny - crop + 1))) for _ in range(n_random)]
    if mode == "ar":
        x, y = strongest_region_pixel(smap.data)
        return [clamp(x - crop // 2, y - crop // 2)]
    # "list": helioprojective (Tx, Ty) arcsec centres
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    corners = []
    for tx, ty in positions:
        px, py = smap.wcs.world_to_pixel(SkyCoord(tx * u.arcsec, ty * u.arcsec, frame=smap.coordinate_frame))
        if not (np.isfinite(px) and np.isfinite(py)):
            raise BadInput(f"crop position ({tx}, {ty}) arcsec is not on the image")
        corners.append(clamp(round(float(px) - crop / 2 + 0.5), round(float(py) - crop / 2 + 0.5)))
    return corners


def preprocess_magnetogram(
    smap,
    size: int | None,
    source: str = "",
    crop: int | None = None,
    crop_mode: str = "center",
    positions=(),
    n_random: int = 1,
    pairs: int | None = None,
    rng: np.random.Generator | None = None,
) -> list[Record]:
    """Preprocess one magnetogram into stored samples (Gauss, NaN set to 0).

    Parameters
    ----------
    smap : sunpy.map.GenericMap
        HMI, MDI or any line-of-sight magnetogram in Gauss.
    size : int, optional
        Output side S (area average). Default: the crop size, or the image size.
    crop : int, optional
        Side C of native-resolution crops.
    crop_mode : {"center", "random", "ar", "list"}
    positions : sequence of (Tx, Ty)
        Crop centres in arcsec for ``crop_mode="list"``.
    n_random : int
        Crops per image for ``crop_mode="random"``.
    pairs : int, optional
        Also store the ``pairs x pairs`` block mean (the low-resolution input).
    rng : numpy.random.Generator
        For random crops; the builder seeds it per file so resumed builds match.

    Returns
    -------
    list of Record
        One per crop (or one for the whole image); images (1, S, S) float32.
    """
    from .fitsio import require_keywords

    if crop_mode not in CROP_MODES:
        raise HeliogenError(f"unknown crop mode {crop_mode!r}; choose from {', '.join(CROP_MODES)}")
    require_keywords(smap, REQUIRED, source)
    # HMI is written upside down (CROTA2 ~ 180): store every magnetogram north up, so HMI and
    # MDI rows align for super-resolution pairs and crops land where the WCS says; a turn by
    # quarters is exact, keeping the sub-2" power an interpolation would smooth away.
    smap, reorient, _ = north_up(smap)
    field = np.nan_to_num(hmi_equivalent(smap.data, is_mdi(smap)), nan=0.0)
    base = dict(map_fields(smap, source), reorient=reorient)
    native = base["cdelt"]

    if crop:
        corners = _crop_corners(field.shape, crop, crop_mode, rng or np.random.default_rng(0), smap, positions, n_random)
        windows = [(field[y : y + crop, x : x + crop], x, y) for x, y in corners]
    else:
        windows = [(field, -1, -1)]

    samples = []
    for window, x0, y0 in windows:
        side = size or window.shape[0]
        if window.shape[0] != window.shape[1]:
            raise BadInput(f"image is not square ({window.shape[0]}x{window.shape[1]}); use --crop")
        image = window if side == window.shape[0] else area_resample(window, side)
        lowres = None
        if pairs:
            if side % pairs:
                raise HeliogenError(f"--size {side} is not divisible by --pairs {pairs}")
            lowres = block_mean(image, pairs).astype(np.float32)[None]
        # the stored grid's own WCS reference: its pixels map to the sky where their source pixels do
        pointing = window_pointing(smap, max(x0, 0), max(y0, 0), window.shape[0], side)
        fields = dict(base, crop_x=x0, crop_y=y0, cdelt=native * window.shape[0] / side, **pointing)
        samples.append(Record(image=image.astype(np.float32)[None], fields=fields, lowres=lowres))
    return samples
