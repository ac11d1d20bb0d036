"""Seeded flare history and the synthetic GOES/XRS light curve it produces.

Flares are drawn hour by hour from a Poisson process whose rate follows the activity
level and the flux of active regions on the Earth-facing disk; each flare belongs to
one of those regions (chosen in proportion to flux), so the same flare can be drawn
into the EUV image of that region. Everything here is synthetic.
"""

import functools
from dataclasses import dataclass

import numpy as np

from .history import STREAMS, SyntheticSun

__all__ = ["Flare", "flares_between", "xrs_flux", "flare_state", "background_flux"]

_HOUR = 3600.0
_MAX_RATE = 12.0          # candidate flares per hour before thinning
_RATE0 = 6.5              # flares per hour for a fully active Sun with large regions
_ALPHA = 1.58             # peak-flux power-law index dN/dF ~ F^-alpha
_FMIN = 1e-7              # smallest flare drawn (B1)
_FMAX = 3e-3              # cap (X30)
_REACH = 6 * _HOUR        # flares further than this from t no longer contribute


@dataclass(frozen=True)
class Flare:
    """One synthetic flare.

    Attributes
    ----------
    peak : float
        Peak time, s since 2000-01-01 UTC (a whole minute).
    amplitude : float
        XRS-B flux added at peak above background (W/m^2).
    rise, decay : float
        Gaussian rise and exponential decay times (s) of XRS-B.
    ratio : float
        XRS-A / XRS-B amplitude ratio.
    noaa : int
        Number of the active region that flares.
    """

    peak: float
    amplitude: float
    rise: float
    decay: float
    ratio: float
    noaa: int

    @property
    def start(self):
        """Start time (s): rise begins at ~2 % of the amplitude."""
        return self.peak - 2.0 * self.rise

    @property
    def end(self):
        """End time (s): XRS-B back halfway down, as SWPC defines it."""
        return self.peak + self.decay * np.log(2.0)

    def profile_b(self, t):
        """XRS-B flux added by this flare at times ``t`` (W/m^2)."""
        dt = np.asarray(t, dtype=float) - self.peak
        rise = np.exp(-np.square(np.minimum(dt, 0.0) / self.rise))
        decay = np.exp(-np.maximum(dt, 0.0) / self.decay)
        return self.amplitude * np.where(dt < 0, rise, decay)

    def profile_a(self, t):
        """XRS-A flux added at ``t``: softer (hotter) profile, earlier and shorter."""
        dt = np.asarray(t, dtype=float) - (self.peak - 0.3 * self.rise)
        rise = np.exp(-np.square(np.minimum(dt, 0.0) / (0.7 * self.rise)))
        decay = np.exp(-np.maximum(dt, 0.0) / (0.6 * self.decay))
        return self.ratio * self.amplitude * np.where(dt < 0, rise, decay)

    def integrated(self):
        """XRS-B fluence (J/m^2) from start to end."""
        return self.amplitude * (0.5 * np.sqrt(np.pi) * self.rise
                                 + self.decay * (1.0 - np.exp(-(self.end - self.peak) / self.decay)))


def flare_rate(activity, visible_flux):
    """Flare rate (per hour) for an activity level and on-disk region flux (Mx)."""
    rate = _RATE0 * (0.1 + activity) ** 2 * visible_flux / (visible_flux + 2e22)
    return min(rate, _MAX_RATE)


@functools.lru_cache(maxsize=4096)
def _hour_flares(seed, hour):
    """Flares peaking in one hour block (cached; pure function of seed and hour)."""
    sun = SyntheticSun(seed)
    rng = np.random.default_rng([seed, STREAMS["flares"], hour + 10**7])
    n = rng.poisson(_MAX_RATE)
    times = np.sort((hour + rng.random(n)) * _HOUR)
    accept_u, size_u, pick_u = rng.random(n), rng.random(n), rng.random(n)
    rise_f, decay_f, ratio_f = rng.normal(0, 0.25, n), rng.normal(0, 0.25, n), rng.normal(0, 0.2, n)
    if n == 0:
        return ()
    # Regions change slowly: one evaluation per hour is enough for rate and host.
    mid = (hour + 0.5) * _HOUR
    hosts = [s for s in sun.regions(mid) if s.visible]
    weights = np.array([s.flux for s in hosts])
    rate = flare_rate(sun.activity(mid), weights.sum() if hosts else 0.0)
    out = []
    for i in range(n):
        if not hosts or accept_u[i] >= rate / _MAX_RATE:
            continue
        amp = min(_FMIN * size_u[i] ** (-1.0 / (_ALPHA - 1.0)), _FMAX)
        logf = np.log10(amp)
        rise = 60.0 * np.clip(3.0 * np.exp(rise_f[i]) * (1 + 0.2 * (logf + 7)), 1.0, 10.0)
        decay = 60.0 * np.clip((8.0 + 4.0 * (logf + 7.0)) * np.exp(decay_f[i]), 5.0, 45.0)
        ratio = float(np.clip(0.1 * (amp / 1e-6) ** 0.15 * np.exp(ratio_f[i]), 0.03, 0.4))
        host = hosts[int(np.searchsorted(np.cumsum(weights) / weights.sum(), pick_u[i]))]
        out.append(Flare(peak=float(np.round(times[i] / 60.0) * 60.0), amplitude=float(amp),
                         rise=float(rise), decay=float(decay), ratio=ratio,
                         noaa=host.region.noaa))
    return tuple(out)


def flares_between(sun, t0, t1):
    """Flares whose peak lies in ``[t0, t1)`` (s since 2000), sorted by peak."""
    hours = range(int(np.floor(t0 / _HOUR)) - 1, int(np.floor(t1 / _HOUR)) + 2)
    return [f for h in hours for f in _hour_flares(sun.seed, h) if t0 <= f.peak < t1]


def background_flux(sun, t):
    """Non-flaring XRS-B level (W/m^2): 1e-8 (quiet) to 1e-6 (very active)."""
    return 1e-8 * 100.0 ** sun.activity(t)


def _minute_noise(seed, minutes):
    """Multiplicative 2 % noise, one value per absolute minute (per-day streams)."""
    minutes = np.asarray(minutes, dtype=np.int64)
    days = minutes // 1440
    out = np.empty(minutes.shape)
    for d in np.unique(days):
        rng = np.random.default_rng([seed, STREAMS["xrs"], int(d) + 100000])
        noise = rng.normal(0.0, 0.02, (2, 1440))
        sel = days == d
        out[sel] = noise[0, minutes[sel] - d * 1440]
    return 1.0 + out


def xrs_flux(sun, t):
    """Synthetic GOES XRS fluxes at times ``t``.

    Parameters
    ----------
    sun : SyntheticSun
    t : array_like
        Seconds since 2000-01-01 UTC.

    Returns
    -------
    xrsa, xrsb : numpy.ndarray
        0.5-4 and 1-8 Angstrom fluxes in W/m^2.
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    noise = _minute_noise(sun.seed, np.floor(t / 60.0))
    bg = background_flux(sun, t) * noise
    xrsb, xrsa = bg.copy(), 0.04 * bg
    if t.size == 0:
        return xrsa, xrsb
    order = np.argsort(t)
    ts = t[order]
    for f in flares_between(sun, ts[0] - _REACH, ts[-1] + _REACH):
        # Only touch samples near the flare: keeps long curves cheap.
        lo, hi = np.searchsorted(ts, [f.peak - 10 * f.rise, f.peak + 15 * f.decay])
        idx = order[lo:hi]
        xrsb[idx] += f.profile_b(t[idx])
        xrsa[idx] += f.profile_a(t[idx])
    return xrsa, xrsb


def flare_state(sun, t):
    """Current flare XRS-B excess per active region at time ``t``.

    Parameters
    ----------
    sun : SyntheticSun
    t : float
        Seconds since 2000-01-01 UTC.

    Returns
    -------
    dict
        ``{noaa: flux}`` in W/m^2 for regions with an ongoing flare.
    """
    state = {}
    for f in flares_between(sun, t - _REACH, t + _REACH):
        v = float(f.profile_b(t))
        if v > 1e-9:
            state[f.noaa] = state.get(f.noaa, 0.0) + v
    return state
