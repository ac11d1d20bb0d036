"""Normalisations between stored values and model space: hand-computed values for each kind,
round trips, the running dataset constants and the errors of an unusable normalisation."""

import json
import math
import re

import numpy as np
import pytest

from heliogen.data.normalise import Normalisation
from heliogen.errors import HeliogenError


def _exactly(message):
    """A pytest ``match`` pattern for the whole message, not just a part of it."""
    return f"^{re.escape(message)}$"

RNG = np.random.default_rng(11)


# --- hand-computed values -----------------------------------------------------------------

def test_log_max_known_values():
    n = Normalisation("log_max", {"max": 2.0})
    np.testing.assert_array_equal(n.forward(np.array([0.0, 1.0, 2.0])), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(n.inverse(np.array([0.0, 0.25, 1.0])), [0.0, 0.5, 2.0])
    # physical I = exp(x * max): x = 0.5 is e, x = 1 is e**2, x = 0 is 1 DN/s
    np.testing.assert_allclose(n.physical(np.array([0.0, 0.5, 1.0])), [1.0, math.e, math.e**2], rtol=1e-15)


def test_log_max_stored_is_ln_of_intensity_clipped_at_one():
    n = Normalisation("log_max", {"max": 2.0})
    stored = n.stored_from_physical(np.array([-3.0, 0.5, 1.0, math.e, 1000.0]))
    np.testing.assert_allclose(stored, [0.0, 0.0, 0.0, 1.0, 3 * math.log(10)], rtol=1e-15, atol=0)


def test_linear_known_values():
    n = Normalisation("linear", {"scale": 3000.0})
    np.testing.assert_array_equal(n.forward(np.array([-3000.0, 1500.0, 0.0, 300.0])), [-1.0, 0.5, 0.0, 0.1])
    np.testing.assert_array_equal(n.inverse(np.array([-1.0, 0.5, 0.25])), [-3000.0, 1500.0, 750.0])
    # magnetograms: the physical value is the stored one, in gauss
    np.testing.assert_array_equal(n.physical(np.array([-0.5, 1.0])), [-1500.0, 3000.0])


def test_linear_stored_clips_at_the_scale():
    n = Normalisation("linear", {"scale": 10.0})
    np.testing.assert_array_equal(n.stored_from_physical(np.array([-25.0, -10.0, 3.5, 10.0, 11.0])),
                                  [-10.0, -10.0, 3.5, 10.0, 10.0])


def test_minmax_known_values():
    n = Normalisation("minmax", {"lo": 2.0, "hi": 6.0})
    # x = 2 (s - 2) / 4 - 1
    np.testing.assert_array_equal(n.forward(np.array([2.0, 3.0, 4.0, 6.0, 8.0])), [-1.0, -0.5, 0.0, 1.0, 2.0])
    # s = (x + 1) * 4 / 2 + 2
    np.testing.assert_array_equal(n.inverse(np.array([-1.0, -0.5, 0.5, 1.0])), [2.0, 3.0, 5.0, 6.0])
    np.testing.assert_array_equal(n.physical(np.array([0.0, 0.5])), [4.0, 5.0])
    # granulation stores I/<I> itself: nothing to clip
    np.testing.assert_array_equal(n.stored_from_physical(np.array([-5.0, 0.3, 99.0])), [-5.0, 0.3, 99.0])


def test_stored_values_are_float64():
    # ln taken in float64: float32 input keeps the double-precision value of ln(1e4)
    n = Normalisation("log_max", {"max": 2.0})
    s = n.stored_from_physical(np.array([1e4], dtype=np.float32))
    assert s.dtype == np.float64
    np.testing.assert_allclose(s, [math.log(1e4)], rtol=1e-15)
    for norm in (Normalisation("linear", {"scale": 3000.0}), Normalisation("minmax", {"lo": 0.0, "hi": 2.0})):
        s = norm.stored_from_physical([1, 2])
        assert s.dtype == np.float64
        np.testing.assert_array_equal(s, [1.0, 2.0])


def test_data_range_and_unit_by_kind():
    cases = [("log_max", {"max": 1.0}, (0.0, 1.0), "DN/s"), ("linear", {"scale": 3000.0}, (-1.0, 1.0), "G"),
             ("minmax", {"lo": 0.0, "hi": 1.0}, (-1.0, 1.0), "I/<I>")]
    for kind, params, data_range, unit in cases:
        n = Normalisation(kind, params)
        assert n.data_range == data_range
        assert n.unit == unit


# --- round trips --------------------------------------------------------------------------

@pytest.mark.parametrize("kind, params", [("log_max", {"max": 9.3}), ("linear", {"scale": 3000.0}),
                                          ("minmax", {"lo": 0.41, "hi": 1.87})])
def test_forward_inverse_round_trip(kind, params):
    n = Normalisation(kind, params)
    lo, hi = n.data_range
    x = RNG.uniform(lo, hi, (5, 7))
    np.testing.assert_allclose(n.forward(n.inverse(x)), x, rtol=1e-13, atol=1e-15)
    s = n.inverse(x)
    np.testing.assert_allclose(n.inverse(n.forward(s)), s, rtol=1e-13, atol=1e-12)


def test_model_ends_map_to_dataset_ends():
    # the dataset constants land exactly on the model range's ends
    n = Normalisation("minmax", {"lo": 0.41, "hi": 1.87})
    np.testing.assert_allclose(n.forward(np.array([0.41, 1.87])), [-1.0, 1.0], rtol=0, atol=1e-15)
    n = Normalisation("log_max", {"max": 9.3})
    np.testing.assert_allclose(n.forward(np.array([0.0, 9.3])), [0.0, 1.0], rtol=0, atol=1e-15)


def test_physical_round_trip_inside_the_clips():
    cases = [("log_max", RNG.uniform(1.0, 5e4, 50)), ("linear", RNG.uniform(-3000.0, 3000.0, 50)),
             ("minmax", RNG.uniform(0.4, 1.9, 50))]
    for kind, physical in cases:
        n = Normalisation(kind, {"scale": 3000.0} if kind == "linear" else {})
        stored = n.stored_from_physical(physical)
        n.update(stored)
        np.testing.assert_allclose(n.physical(n.forward(stored)), physical, rtol=1e-12)


# --- running dataset constants ------------------------------------------------------------

def test_log_max_update_keeps_the_largest_finite_value():
    n = Normalisation("log_max")
    n.update(np.array([0.2, 0.5, np.nan, np.inf, -np.inf]))
    assert n.params == {"max": 0.5}
    n.update(np.array([[0.3, 0.1]]))
    assert n.params == {"max": 0.5}
    n.update(np.array([3.0]))  # a single finite value counts too
    assert n.params == {"max": 3.0}


def test_minmax_update_tracks_lo_and_hi_over_batches():
    n = Normalisation("minmax")
    n.update(np.array([1.5, 0.75, np.nan]))
    assert n.params == {"lo": 0.75, "hi": 1.5}
    n.update(np.array([2.0, 1.0]))
    assert n.params == {"lo": 0.75, "hi": 2.0}
    n.update(np.array([0.25]))
    assert n.params == {"lo": 0.25, "hi": 2.0}
    m = Normalisation("minmax")
    m.update(np.array([-3.0, -2.0]))  # all negative: hi is the largest value, not 0
    assert m.params == {"lo": -3.0, "hi": -2.0}


def test_update_without_finite_values_changes_nothing():
    for kind in ("log_max", "minmax"):
        n = Normalisation(kind)
        n.update(np.array([np.nan, np.inf]))
        n.update(np.zeros(0))
        assert n.params == {}


def test_linear_update_keeps_its_fixed_scale():
    n = Normalisation("linear", {"scale": 3000.0})
    n.update(np.array([-200.0, 4500.0]))
    assert n.params == {"scale": 3000.0}


def test_constants_from_float32_images_serialise_as_json():
    # store attributes are JSON: the constants must be plain floats, not numpy scalars
    for kind in ("log_max", "minmax"):
        n = Normalisation(kind)
        n.update(np.array([0.25, 1.5], dtype=np.float32))
        assert all(type(v) is float for v in n.params.values())
        back = Normalisation.from_dict(json.loads(json.dumps(n.to_dict())))
        assert back == n


# --- serialisation ------------------------------------------------------------------------

def test_to_dict_and_from_dict():
    n = Normalisation("linear", {"scale": 3000.0})
    assert n.to_dict() == {"kind": "linear", "params": {"scale": 3000.0}}
    assert Normalisation.from_dict({"kind": "log_max"}) == Normalisation("log_max", {})
    d = {"kind": "minmax", "params": {"lo": 0.0, "hi": 1.0}}
    m = Normalisation.from_dict(d)
    m.update(np.array([5.0]))  # the copy learns; the dict it came from does not change
    assert m.params == {"lo": 0.0, "hi": 5.0}
    assert d["params"] == {"lo": 0.0, "hi": 1.0}


# --- unusable normalisations --------------------------------------------------------------

def test_unknown_kind_names_the_known_ones():
    with pytest.raises(HeliogenError, match=_exactly("unknown normalisation 'gamma'; choose from log_max, linear, minmax")):
        Normalisation("gamma")


MAX_UNSET = "the store's normalisation maximum is not set (is the store empty?)"
SCALE_UNSET = "the normalisation scale is not set or not positive"
RANGE_EMPTY = "the store's normalisation range is empty (is the store empty?)"


@pytest.mark.parametrize("kind, params, message", [
    ("log_max", {}, MAX_UNSET), ("log_max", {"max": 0.0}, MAX_UNSET), ("log_max", {"max": -1.0}, MAX_UNSET),
    ("log_max", {"max": np.nan}, MAX_UNSET),
    ("linear", {}, SCALE_UNSET), ("linear", {"scale": 0.0}, SCALE_UNSET), ("linear", {"scale": np.nan}, SCALE_UNSET),
    ("minmax", {}, RANGE_EMPTY), ("minmax", {"lo": 1.0, "hi": 1.0}, RANGE_EMPTY),
    ("minmax", {"lo": 2.0, "hi": 1.0}, RANGE_EMPTY), ("minmax", {"lo": 0.5}, RANGE_EMPTY),
    ("minmax", {"hi": 0.5}, RANGE_EMPTY), ("minmax", {"lo": -0.5}, RANGE_EMPTY), ("minmax", {"hi": -0.5}, RANGE_EMPTY),
])
def test_unusable_constants_are_refused(kind, params, message):
    n = Normalisation(kind, params)
    for method in (n.forward, n.inverse, n.physical):
        with pytest.raises(HeliogenError, match=_exactly(message)):
            method(np.zeros(3))


def test_small_positive_constants_are_usable():
    # the checks refuse only empty ranges: a tiny maximum or scale still works
    np.testing.assert_allclose(Normalisation("log_max", {"max": 0.5}).forward(np.array([0.25])), [0.5])
    np.testing.assert_allclose(Normalisation("linear", {"scale": 0.5}).forward(np.array([0.25])), [0.5])
    np.testing.assert_allclose(Normalisation("minmax", {"lo": 0.0, "hi": 0.5}).forward(np.array([0.25])), [0.0])
