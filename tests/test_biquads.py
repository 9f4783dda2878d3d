"""The compiled kernel (twitchwatch._biquads) against scipy.signal.sosfilt itself: the same
bits in float32 and float64, on random stable sections and states, for every count of
signals (the groups of 8, 4, 2 and 1) and of sections (the passes of 4, 2 and 1), across
the sample blocks, in random chunkings, on every instruction set the CPU has."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from twitchwatch import dsp, filters

biquads = pytest.importorskip("twitchwatch._biquads", reason="the C extension was not built")


@pytest.fixture(params=biquads.available())
def isa(request):
    """Each test on each code path this CPU can run (the default one restored after)."""
    default = biquads.isa()
    biquads.isa(request.param)
    yield request.param
    biquads.isa(default)


def random_sos(rng: np.random.Generator, n_sections: int) -> np.ndarray:
    """Stable sections: poles (complex pairs or two real ones) inside the unit circle,
    numerators at random."""
    sos = np.zeros((n_sections, 6))
    sos[:, :3] = rng.normal(size=(n_sections, 3))
    sos[:, 3] = 1.0
    r, theta = rng.uniform(0.1, 0.995, n_sections), rng.uniform(0, np.pi, n_sections)
    real = rng.random(n_sections) < 0.3
    p1, p2 = np.where(real, r, r * np.cos(theta)), np.where(real, -r * rng.random(n_sections), r)
    sos[:, 4] = np.where(real, -(p1 + p2), -2 * r * np.cos(theta))
    sos[:, 5] = np.where(real, p1 * p2, r ** 2)
    return sos


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(5))
def test_the_kernel_is_scipys_to_the_bit(seed, dtype, isa):
    rng = np.random.default_rng(seed)
    for n_signals in (1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17):
        n_sections = int(rng.integers(1, 12))
        n_samples = int(rng.choice([1, 5, 127, 128, 129, 1000, 3001]))
        sos = random_sos(rng, n_sections).astype(dtype)
        x = (rng.normal(size=(n_signals, n_samples)) * 100).astype(dtype)
        zi = rng.normal(size=(n_signals, n_sections, 2)).astype(dtype)
        ref_y, ref_zf = signal.sosfilt(sos, x, axis=1, zi=np.moveaxis(zi, 0, 1))
        y, zf = x.copy(), zi.copy()
        biquads.sosfilt(sos, y, zf)
        assert ref_y.dtype == dtype
        np.testing.assert_array_equal(y, ref_y)
        np.testing.assert_array_equal(np.moveaxis(zf, 0, 1), ref_zf)
        src, out, zf = x.copy(), np.empty_like(x), zi.copy()  # into out: x left as it was
        src.flags.writeable = False
        biquads.sosfilt(sos, src, zf, out)
        np.testing.assert_array_equal(out, ref_y)
        np.testing.assert_array_equal(src, x)
        np.testing.assert_array_equal(np.moveaxis(zf, 0, 1), ref_zf)
        empty, zf = np.zeros((n_signals, 0), dtype), zi.copy()
        biquads.sosfilt(sos, empty, zf)  # no samples: the state as it was
        np.testing.assert_array_equal(zf, zi)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(3))
def test_random_chunkings_give_the_whole(seed, dtype, isa):
    """filters.sosfilt on random chunks, the state carried: scipy's one pass, to the bit;
    the pipeline's own designs too (band-pass with notches at 1000 and 200 Hz)."""
    rng = np.random.default_rng(100 + seed)
    designs = [random_sos(rng, int(rng.integers(1, 10))), dsp.design_filters(1000.0, 60.0)[0],
               dsp.design_filters(200.0, 50.0)[0]]
    for sos in designs:
        sos = sos.astype(dtype)
        n_signals = int(rng.integers(1, 12))
        x = (rng.normal(size=(n_signals, 5000)) * 50).astype(dtype)
        zi = rng.normal(size=(len(sos), n_signals, 2)).astype(dtype)
        whole, whole_zf = signal.sosfilt(sos, x, axis=1, zi=zi)
        cuts = np.sort(rng.integers(0, x.shape[1], 6))
        parts, state = [], zi
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, x.shape[1]]):
            y, state = filters.sosfilt(sos, x[:, a:b], axis=1, zi=state)
            parts.append(y)
        assert filters._biquads() is not None
        np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
        np.testing.assert_array_equal(state, whole_zf)


def test_other_axes_and_shapes_through_the_wrapper(isa):
    """filters.sosfilt moves the axis and flattens the rest into signals (the comb's
    channels x rows x phases, a 1-D signal): scipy's result still."""
    rng = np.random.default_rng(9)
    sos = random_sos(rng, 3)
    for shape, axis in (((4, 50, 20), 1), ((700,), 0), ((3, 5, 400), -1), ((300, 6), 0)):
        x = rng.normal(size=shape)
        zi_shape = (3,) + shape[:axis % len(shape)] + (2,) + shape[axis % len(shape) + 1:]
        zi = rng.normal(size=zi_shape)
        for ours, ref in zip(filters.sosfilt(sos, x, axis=axis, zi=zi), signal.sosfilt(sos, x, axis=axis, zi=zi)):
            np.testing.assert_array_equal(ours, ref)


def test_wrong_arguments_are_refused():
    sos, x, zi = np.zeros((2, 6)), np.zeros((3, 10)), np.zeros((3, 2, 2))
    with pytest.raises(TypeError, match="float32 or all float64"):
        biquads.sosfilt(sos.astype(np.float32), x, zi)
    with pytest.raises(TypeError, match="float32 or all float64"):
        biquads.sosfilt(sos.astype(int), x.astype(int), zi.astype(int))
    with pytest.raises(ValueError, match="zi signals x sections x 2"):
        biquads.sosfilt(sos, x, np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match="out x's shape"):
        biquads.sosfilt(sos, x, zi, np.zeros((3, 11)))
    with pytest.raises(TypeError, match="float32 or all float64"):
        biquads.sosfilt(sos, x, zi, np.zeros((3, 10), np.float32))
    with pytest.raises(ValueError, match="must be 2-D"):
        biquads.sosfilt(sos, x[0], zi)
    with pytest.raises(ValueError, match="not available"):
        biquads.isa("sse9")
