import numpy as np
import pytest

from heliogen.data.granulation import AUGMENTATIONS, preprocess_granulation
from heliogen.data.synth import synth_granulation
from heliogen.errors import BadInput


@pytest.fixture(scope="module")
def patch():
    return synth_granulation(1, size=182)


def test_ten_augmentations_share_one_plate_scale(patch):
    samples = preprocess_granulation(patch, 64)
    assert [s.fields["augment"] for s in samples] == list(AUGMENTATIONS)
    assert len(samples) == 10
    side = int(np.floor(182 / np.sqrt(2)))  # 128: the square inscribed in the 45-degree frame
    assert all(s.fields["cdelt"] == pytest.approx(patch.scale.axis1.value * side / 64) for s in samples)
    ident, flipx, flipy, rot90, rot180 = (samples[AUGMENTATIONS.index(k)].image[0] for k in ("identity", "flipx", "flipy", "rot90", "rot180"))
    np.testing.assert_allclose(flipx, ident[:, ::-1], rtol=1e-6)
    np.testing.assert_allclose(flipy, ident[::-1, :], rtol=1e-6)
    np.testing.assert_allclose(rot90, np.rot90(ident), rtol=1e-6)
    np.testing.assert_allclose(rot180, np.rot90(ident, 2), rtol=1e-6)
    # a 45-degree rotation holds no invented corner: its statistics match the original's
    rot45 = samples[AUGMENTATIONS.index("rot45")].image[0]
    assert abs(rot45.mean() - ident.mean()) < 0.02 and abs(rot45.std() - ident.std()) < 0.3 * ident.std()
    assert all(abs(s.image.mean() - 1.0) < 0.05 for s in samples)  # intensity over its mean


def test_too_small_for_the_tile(patch):
    with pytest.raises(BadInput, match="too small"):
        preprocess_granulation(patch, 256)
