"""EUV full-disk preprocessing, as in the full-disk EUV generation study (sec. 3).

Steps, in order:

1. drop frames with ``QUALITY != 0`` (and, if asked, a different wavelength);
2. AIA level 1: ``aiapy.calibrate.register`` (common 0.6"/px plate scale at full
   resolution, north up, disk centred); optionally aiapy's degradation correction;
   other imagers: rotated north-up with sunpy;
3. divide by the exposure time (DN/s);
4. area-average onto an ``S x S`` grid centred on the disk, covering a fixed field of view
   (default AIA's 4096 x 0.6" = 2457.6"), so every instrument lands on one plate scale;
5. clip to >= 1 and take the natural log. The division by the dataset maximum happens on
   read (:class:`heliogen.data.normalise.Normalisation`, ``log_max``), so the maximum is exact
   however many builds add to the store.

Averaging happens on linear intensities (step 4 before 5) so that it conserves flux; the
study's order (log, then downsample) would average logarithms.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import BadInput, HeliogenError
from .resample import area_resample
from .record import Record, map_fields

__all__ = ["preprocess_euv", "AIA_PLATE_SCALE", "DEFAULT_FOV"]

AIA_PLATE_SCALE = 0.6  # arcsec/px, aiapy.calibrate.register's target at 4096 px
DEFAULT_FOV = 4096 * AIA_PLATE_SCALE  # arcsec
REQUIRED = ("DATE-OBS", "EXPTIME", "CDELT1", "CDELT2", "CRPIX1", "CRPIX2")


def _is_aia_level1(smap) -> bool:
    level = smap.meta.get("lvl_num")
    return str(smap.instrument or "").upper().startswith("AIA") and level is not None and float(level) <= 1.0


def _rotation_deg(smap) -> float:
    pc = smap.rotation_matrix
    return float(np.degrees(np.arctan2(pc[1, 0], pc[0, 0])))


def _disk_centre_pixel(smap) -> tuple[float, float]:
    # (0, 0) in helioprojective is the same in any angular unit, so no unit handling needed.
    x, y = smap.wcs.wcs_world2pix([[0.0, 0.0]], 0)[0]
    return float(x), float(y)


def preprocess_euv(
    smap,
    size: int,
    source: str = "",
    wavelength: float | None = None,
    register: bool = True,
    degradation: bool = False,
    degradation_table=None,
    fov: float = DEFAULT_FOV,
) -> list[Record]:
    """Preprocess one EUV full-disk map into a stored sample (ln DN/s on an S x S grid).

    Parameters
    ----------
    smap : sunpy.map.GenericMap
        Any EUV imager map (AIA, EIT, SWAP, EUI, ...).
    size : int
        Output side S.
    source : str
        Name recorded in the table.
    wavelength : float, optional
        Expected wavelength in Angstrom; other wavelengths are rejected.
    register : bool
        Apply ``aiapy.calibrate.register`` to AIA level-1 maps.
    degradation : bool
        Apply ``aiapy.calibrate.correct_degradation`` (needs JSOC or ``degradation_table``).
    fov : float
        Field of view of the output grid in arcsec.

    Returns
    -------
    list of Record
        One sample, image shape (1, S, S), float32.

    Raises
    ------
    BadInput
        Bad quality, wrong wavelength, missing keywords, or zero exposure.
    HeliogenError
        When the degradation correction cannot be had (offline, no table).
    """
    exposure = _checked_exposure(smap, source, wavelength)
    smap = _calibrated(smap, register, degradation, degradation_table)
    data = np.asarray(smap.data)
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
    scale = smap.scale.axis1.to_value("arcsec/pix")
    step = (fov / size) / scale  # output pixel in input pixels
    # Area averaging is linear, so dividing by the exposure afterwards is the same and 16x cheaper.
    image = area_resample(data, size, centre=_disk_centre_pixel(smap), step=step) / exposure
    stored = np.log(np.clip(image, 1.0, None)).astype(np.float32)

    fields = map_fields(smap, source)
    fields["cdelt"] = fov / size
    # the grid is disk centred by construction: its centre is the disk centre (0", 0")
    fields.update(crpix1=(size + 1) / 2, crpix2=(size + 1) / 2, crval1=0.0, crval2=0.0)
    return [Record(image=stored[None], fields=fields)]


def _checked_exposure(smap, source: str, wavelength: float | None) -> float:
    """The exposure time in s of a map that passes the quality, keyword and wavelength checks."""
    from .fitsio import require_keywords

    quality = smap.meta.get("quality")
    if quality is not None and int(quality) != 0:
        raise BadInput(f"QUALITY={int(quality)} (not 0)", source)
    require_keywords(smap, REQUIRED, source)
    if wavelength is not None:
        if smap.wavelength is None:
            raise BadInput("missing keyword WAVELNTH", source)
        got = smap.wavelength.to_value("Angstrom")
        if not np.isclose(got, wavelength):
            raise BadInput(f"wavelength {got:g} A, expected {wavelength:g} A", source)
    exposure = smap.exposure_time.to_value("s") if smap.exposure_time is not None else 0.0
    if not exposure > 0:
        raise BadInput(f"exposure time {exposure} s is not positive", source)
    return exposure


def _calibrated(smap, register: bool, degradation: bool, degradation_table):
    """AIA level 1: aiapy registration (and degradation correction); other imagers: north up."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if _is_aia_level1(smap):
            if register and not _already_registered(smap):
                from aiapy.calibrate import register as aia_register

                smap = aia_register(smap)
            if degradation:
                smap = _correct_degradation(smap, degradation_table)
        elif abs(_rotation_deg(smap)) > 1e-3:
            smap = smap.rotate(order=3, missing=0.0)
        elif degradation:
            raise HeliogenError("--degradation applies to AIA level-1 data only")
    return smap


def _already_registered(smap) -> bool:
    """True when register would be an identity: north up, 0.6"/px at 4096, disk centred."""
    ny, nx = smap.data.shape
    scale = smap.scale.axis1.to_value("arcsec/pix")
    cx, cy = _disk_centre_pixel(smap)
    return (
        abs(_rotation_deg(smap)) < 1e-6
        and np.isclose(scale, AIA_PLATE_SCALE * 4096 / nx, rtol=1e-6)
        and abs(cx - (nx - 1) / 2) < 1e-3
        and abs(cy - (ny - 1) / 2) < 1e-3
    )


def _correct_degradation(smap, table):
    from aiapy.calibrate import correct_degradation
    from aiapy.calibrate.util import get_correction_table

    try:
        # Without a local table (an SSW aia_V*_response_table.txt) aiapy asks JSOC.
        return correct_degradation(smap, correction_table=get_correction_table(source=table or "JSOC"))
    except HeliogenError:
        raise
    except Exception as err:  # noqa: BLE001 - network errors come in many types
        raise HeliogenError(
            "AIA degradation correction needs aiapy's correction table from JSOC, which could not "
            f"be fetched ({type(err).__name__}); run online or pass --degradation-table FILE"
        ) from None
