"""The seeded solar history shared by every synthetic data kind.

One `SyntheticSun` (a seed) defines, as deterministic functions of absolute time,
a slowly varying activity level and a population of bipolar active regions.
Flares (``flares.py``), EUV images, magnetograms and GOES curves all read this
history, so products of the same seed at the same time are mutually consistent.
All data derived from it are synthetic.

Random draws are made per time block (one day for active regions) from
``numpy.random.default_rng([seed, stream, block])``; the history at time ``t``
therefore does not depend on which window or cadence a caller asked for.
"""

import functools
from dataclasses import dataclass

import numpy as np

from .timeutil import DAY, parse_cadence, to_seconds

__all__ = ["ActiveRegion", "SyntheticSun", "STREAMS", "LEADING_SIGN_NORTH"]

#: Independent random streams of one seed.
STREAMS = {"activity": 0, "regions": 1, "flares": 2, "network": 3, "holes": 4,
           "noise": 5, "granulation": 6, "xrs": 7, "loops": 8, "pointing": 9,
           "elements": 10}

#: Hale's law for the adopted cycle (cycle-24 orientation): sign of the leading
#: polarity in the northern hemisphere; the south has the opposite sign.
LEADING_SIGN_NORTH = -1

_CANDIDATES_PER_DAY = 4      # emergence candidates per day, thinned by activity
_MAX_LIFETIME_DAYS = 30.0
_EARTH_ORBIT_DEG_PER_DAY = 0.9856   # turns sidereal into synodic (Earth-seen) rates


def emergence_probability(activity):
    """Probability that an emergence candidate becomes an active region.

    Parameters
    ----------
    activity : float
        Activity level in [0, 1].

    Returns
    -------
    float
    """
    # 0.4 to 2.4 emergences a day: a quiet to a very active Sun.
    return (0.1 + 0.5 * float(activity))


def flux_scale(activity):
    """Multiplier of active-region flux with activity (stronger regions when active)."""
    return 0.5 + float(activity)


def synodic_rate(lat_deg):
    """Differential rotation rate seen from Earth, deg/day (Snodgrass-like profile)."""
    s2 = np.sin(np.radians(lat_deg)) ** 2
    return 14.713 - 2.396 * s2 - 1.787 * s2 ** 2 - _EARTH_ORBIT_DEG_PER_DAY


@dataclass(frozen=True)
class ActiveRegion:
    """One synthetic bipolar active region (static parameters).

    Attributes
    ----------
    noaa : int
        Synthetic NOAA-like number (unique per emergence).
    t_emerge : float
        Emergence time, seconds since 2000-01-01 UTC.
    lifetime : float
        Lifetime in seconds.
    lon0 : float
        Stonyhurst longitude (deg) at emergence.
    lat : float
        Heliographic latitude of the centre (deg), |lat| in 5..35.
    flux : float
        Peak flux of each polarity (Mx) before activity scaling.
    tilt : float
        Joy's-law tilt (deg); positive puts the leading polarity nearer the equator.
    separation : float
        Distance between the two polarity centres (deg).
    spot_sigma, plage_sigma : float
        Gaussian widths (deg) of the spot and plage parts of each polarity.
    threshold : float
        Uniform draw; the region exists when it is below `emergence_probability`.
    key : int
        Per-region seed component for geometry drawn later (coronal loops).
    """

    noaa: int
    t_emerge: float
    lifetime: float
    lon0: float
    lat: float
    flux: float
    tilt: float
    separation: float
    spot_sigma: float
    plage_sigma: float
    threshold: float
    key: int

    @property
    def leading_sign(self):
        """Sign of the leading (western) polarity from Hale's law."""
        return LEADING_SIGN_NORTH if self.lat >= 0 else -LEADING_SIGN_NORTH

    def growth(self, t):
        """Fraction (0..1) of the peak flux present at time ``t`` (s)."""
        dt = t - self.t_emerge
        if dt <= 0 or dt >= self.lifetime:
            return 0.0
        # Fast emergence (~1 day), then slow decay to nothing at the end of life.
        return float((1.0 - np.exp(-dt / DAY)) * (1.0 - dt / self.lifetime) ** 0.7)

    def lon_at(self, t):
        """Stonyhurst longitude (deg, -180..180) at time ``t`` (s)."""
        lon = self.lon0 + synodic_rate(self.lat) * (t - self.t_emerge) / DAY
        return (lon + 180.0) % 360.0 - 180.0


@dataclass(frozen=True)
class RegionState:
    """An active region at one time: position, current flux and polarity layout.

    Attributes
    ----------
    region : ActiveRegion
    lon, lat : float
        Centre, Stonyhurst deg.
    flux : float
        Current flux of each polarity (Mx).
    poles : tuple
        ``((lon, lat, sign), (lon, lat, sign))`` for (leading, following).
    """

    region: ActiveRegion
    lon: float
    lat: float
    flux: float
    poles: tuple

    @property
    def visible(self):
        """True when the centre is on the Earth-facing hemisphere."""
        return abs(self.lon) < 90.0


@functools.lru_cache(maxsize=512)
def _emergences(seed, day):
    """Emergence candidates of one day (cached; pure function of seed and day)."""
    rng = np.random.default_rng([seed, STREAMS["regions"], day + 100000])
    n = _CANDIDATES_PER_DAY
    t = (day + rng.random(n)) * DAY
    life = np.clip(rng.lognormal(np.log(8.0), 0.5, n), 2.0, _MAX_LIFETIME_DAYS) * DAY
    lon0 = rng.uniform(-180.0, 180.0, n)
    lat = np.clip(rng.normal(17.0, 7.0, n), 5.0, 35.0) * rng.choice([-1.0, 1.0], n)
    flux = np.clip(rng.lognormal(np.log(1e22), 0.8, n), 1e21, 8e22)
    # Joy's law: tilt grows with latitude, ~0.5 deg per degree, with scatter.
    tilt = 0.5 * np.abs(lat) + rng.normal(0.0, 4.0, n)
    sep = np.clip(2.0 + 4.0 * np.sqrt(flux / 1e22), 3.0, 12.0)
    spot = rng.uniform(0.3, 0.55, n)
    plage = rng.uniform(2.0, 3.5, n)
    thr = rng.random(n)
    keys = rng.integers(0, 2**31, n)
    return tuple(
        ActiveRegion(noaa=int(10000 + (day * _CANDIDATES_PER_DAY + i) % 90000), t_emerge=float(t[i]),
                     lifetime=float(life[i]), lon0=float(lon0[i]), lat=float(lat[i]),
                     flux=float(flux[i]), tilt=float(tilt[i]), separation=float(sep[i]),
                     spot_sigma=float(spot[i]), plage_sigma=float(plage[i]),
                     threshold=float(thr[i]), key=int(keys[i]))
        for i in range(n))


class SyntheticSun:
    """A seeded synthetic solar history (activity, active regions, flares).

    All products derived from it are synthetic. The history is defined for any time;
    ``start`` and ``cadence`` only define the default image times
    ``start + k * cadence``.

    Parameters
    ----------
    seed : int
        Non-negative seed; the whole history is a deterministic function of it.
    start : str or time-like
        Time of image 0 (UTC).
    cadence : str or float
        Image cadence, e.g. ``"6h"`` or seconds.
    """

    def __init__(self, seed, start="2011-01-01T00:00:00", cadence="6h"):
        seed = int(seed)
        if seed < 0:
            raise ValueError("seed must be a non-negative integer")
        self.seed = seed
        self.start = to_seconds(start)
        self.cadence = parse_cadence(cadence)
        rng = np.random.default_rng([seed, STREAMS["activity"]])
        self._phases = rng.uniform(0.0, 2.0 * np.pi, 4)
        self._mean = rng.uniform(0.42, 0.55)

    def __repr__(self):
        return f"SyntheticSun(seed={self.seed})"

    def time_of(self, k):
        """Time (s since 2000) of image ``k``."""
        return self.start + k * self.cadence

    def activity(self, t):
        """Activity level in [0, 1] at time(s) ``t`` (s since 2000).

        A sum of slow oscillations (rotation of active longitudes, ~27 d; growth and
        decay of activity complexes, ~9 d and ~3.7 d; a ~1 yr trend) around a
        seed-dependent mean.
        """
        days = np.asarray(t, dtype=float) / DAY
        p = self._phases
        a = (self._mean
             + 0.20 * np.sin(2 * np.pi * days / 27.3 + p[0])
             + 0.16 * np.sin(2 * np.pi * days / 9.1 + p[1])
             + 0.10 * np.sin(2 * np.pi * days / 3.7 + p[2])
             + 0.08 * np.sin(2 * np.pi * days / 365.0 + p[3]))
        a = np.clip(a, 0.0, 1.0)
        return float(a) if a.ndim == 0 else a

    def regions(self, t, activity=None):
        """Active regions alive at time ``t``.

        Parameters
        ----------
        t : float
            Seconds since 2000-01-01 UTC.
        activity : float, optional
            Override of the activity level (0..1). Higher values keep more of the
            emergence candidates (a superset of those of lower values) and scale
            fluxes up.

        Returns
        -------
        list of RegionState
            Sorted by decreasing current flux.
        """
        t = float(t)
        first = int(np.floor((t - _MAX_LIFETIME_DAYS * DAY) / DAY))
        states = []
        for day in range(first, int(np.floor(t / DAY)) + 1):
            for ar in _emergences(self.seed, day):
                a = self.activity(ar.t_emerge) if activity is None else float(activity)
                if ar.threshold >= emergence_probability(a):
                    continue
                g = ar.growth(t)
                if g <= 0.0:
                    continue
                states.append(self._state(ar, t, g * ar.flux * flux_scale(a)))
        states.sort(key=lambda s: -s.flux)
        return states

    @staticmethod
    def _state(ar, t, flux):
        lon, lat = ar.lon_at(t), ar.lat
        half = 0.5 * ar.separation
        gam = np.radians(ar.tilt)
        toward_eq = -np.sign(lat)
        dlon = half * np.cos(gam) / np.cos(np.radians(lat))
        dlat = half * np.sin(gam) * toward_eq
        s = ar.leading_sign
        # Leading polarity is western (+lon) and, by Joy's law, nearer the equator.
        poles = ((lon + dlon, lat + dlat, s), (lon - dlon, lat - dlat, -s))
        return RegionState(region=ar, lon=lon, lat=lat, flux=flux, poles=poles)
