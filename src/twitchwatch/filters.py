"""The few filter tools the analysis needs, without importing scipy.signal or scipy.special.

Start-up: ``import scipy.signal`` costs about 0.6 s (it imports scipy.stats,
scipy.interpolate, scipy.optimize ... and builds scipy.stats' docstrings) and
scipy.special 0.15 s more, a quarter of the 3 s that analysing an hour of 8 channels at
1000 Hz takes. So the designs are scipy's algorithms written out in numpy, step for step,
so that the coefficients come out as scipy's do; and the recursion (``sosfilt``) and the
special functions are scipy's own compiled code, loaded without running the package's
``__init__``. Should that load fail (another scipy layout, a changed signature), scipy's
public functions are used instead: a scipy upgrade can cost speed, never correctness.

The recursion runs on our own compiled kernel (``_biquads.c``) when the install built it:
scipy's, to the bit, with all channels filtered side by side (2-4 x faster on 8 channels).
Without it (no C compiler at install), scipy's kernel does the same work.
"""
from __future__ import annotations

import functools
import importlib
import math
import sys
import types
from pathlib import Path
from typing import Callable

import numpy as np

# -- scipy's compiled code, without its package's __init__ ------------------------------


def _scipy_compiled(package: str, name: str) -> types.ModuleType:
    """scipy.<package>.<name> (a compiled module): while it loads, a bare package stands in
    for scipy.<package> (unless that is already imported), so that its __init__ and what
    that imports are skipped; the module itself and its compiled siblings stay registered,
    and a later ``import scipy.<package>`` uses them."""
    parent, full = f"scipy.{package}", f"scipy.{package}.{name}"
    if parent in sys.modules or full in sys.modules:
        return importlib.import_module(full)
    import scipy
    bare = types.ModuleType(parent)
    bare.__path__ = [str(Path(scipy.__path__[0]) / package)]
    sys.modules[parent] = bare
    try:
        return importlib.import_module(full)
    finally:
        del sys.modules[parent]


def _checked(kernel: Callable) -> Callable | None:
    """``kernel`` if it passes a one-pole check (x through y[n] = x[n] + y[n-1] / 2), else None."""
    x, zi = np.ones((1, 3)), np.zeros((1, 1, 2))
    kernel(np.array([[1.0, 0.0, 0.0, 1.0, -0.5, 0.0]]), x, zi)
    return kernel if np.array_equal(x, [[1.0, 1.5, 1.75]]) else None


@functools.cache
def _biquads() -> Callable | None:
    """Our compiled cascade of biquads, ``sosfilt(sos, x, zi[, out])`` with scipy's
    ``_sosfilt`` arguments (in place on C-ordered x: signals x samples, or into ``out``; zi:
    signals x sections x 2; all of one dtype), the channels side by side; None when it was
    not built."""
    try:
        from . import _biquads
        return _checked(_biquads.sosfilt)
    except Exception:  # not built (or broken): scipy's kernel does the work instead
        return None


@functools.cache
def _sosfilt_kernel() -> Callable | None:
    """scipy's compiled cascade of biquads, ``_sosfilt(sos, x, zi)`` (arguments as
    ``_biquads``'), once it has passed the one-pole check; None when it cannot be had."""
    try:
        return _checked(_scipy_compiled("signal", "_sosfilt")._sosfilt)
    except Exception:  # any failure: scipy.signal.sosfilt does the work instead
        return None


@functools.cache
def _special() -> types.ModuleType:
    """scipy.special's compiled ufuncs (scipy.special itself when they cannot be had)."""
    try:
        return _scipy_compiled("special", "_ufuncs")
    except Exception:
        import scipy.special
        return scipy.special


# Loaded at import (start-up, before any thread of ours runs): while they load, scipy.signal
# and scipy.special are bare stand-ins, which no other thread should meet.
if _biquads() is None:
    _sosfilt_kernel()
_special()


def ndtri(p):
    """The standard normal quantile (scipy.special.ndtri)."""
    return _special().ndtri(p)


def gammainccinv(a, y):
    """x with Q(a, x) = y, Q the regularised upper incomplete gamma (scipy.special.gammainccinv)."""
    return _special().gammainccinv(a, y)


def chndtrix(p, dof, nc):
    """The noncentral chi-square quantile (scipy.special.chndtrix)."""
    return _special().chndtrix(p, dof, nc)


# -- the recursion ------------------------------------------------------------------------


def sosfilt(sos: np.ndarray, x: np.ndarray, axis: int = -1, zi: np.ndarray | None = None):
    """scipy.signal.sosfilt: ``x`` through the second-order sections ``sos`` along ``axis``;
    with ``zi`` (sections x x's shape with 2 along ``axis``) returns (y, final state)."""
    ours = _biquads()
    kernel = ours or _sosfilt_kernel()
    sos, x = np.atleast_2d(np.asarray(sos)), np.asarray(x)
    dtype = np.result_type(sos, x, *(() if zi is None else (np.asarray(zi),)))
    if kernel is None or dtype not in (np.float32, np.float64):
        from scipy.signal import sosfilt as scipy_sosfilt
        return scipy_sosfilt(sos, x, axis=axis, zi=zi)
    if sos.ndim != 2 or sos.shape[1] != 6 or not np.all(sos[:, 3] == 1):
        raise ValueError(f"sos must be n_sections x 6 with sos[:, 3] == 1, got shape {sos.shape}")
    if x.ndim == 0:
        raise ValueError("x must be at least 1-D")
    axis = axis % x.ndim
    zi_shape = (len(sos),) + x.shape[:axis] + (2,) + x.shape[axis + 1:]
    if zi is not None and np.shape(zi) != zi_shape:
        raise ValueError(f"zi must have shape {zi_shape}, got {np.shape(zi)}")
    if x.size == 0:  # nothing to run: an empty copy, the state as it was
        y = np.array(x, dtype)
        return y if zi is None else (y, np.array(zi, dtype))
    # scipy's own preparation: signals x samples, C-ordered (scipy's kernel works in place
    # on a copy; ours writes the output beside the input, one pass over memory the less)
    y = np.moveaxis(x, axis, -1)
    y_shape = y.shape
    y = np.reshape(y, (-1, y_shape[-1]))
    state = np.zeros(zi_shape, dtype) if zi is None else np.array(zi, dtype)
    state = np.moveaxis(state, (0, axis + 1), (-2, -1))
    state_shape = state.shape
    state = np.ascontiguousarray(np.reshape(state, (-1, len(sos), 2)))
    if ours is not None:
        src = np.ascontiguousarray(y, dtype)
        y = np.empty_like(src)
        ours(np.ascontiguousarray(sos, dtype), src, state, y)
    else:
        y = np.array(y, dtype, order="C")
        kernel(sos.astype(dtype, copy=False), y, state)
    y = np.moveaxis(y.reshape(y_shape), -1, axis)
    if zi is None:
        return y
    return y, np.moveaxis(state.reshape(state_shape), (-2, -1), (0, axis + 1))


def _lfilter_zi(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """scipy.signal.lfilter_zi of one section (a[0] == 1): the state after a unit step."""
    n = len(a)
    companion = np.zeros((n - 1, n - 1))
    companion[0] = -a[1:] / a[0]
    companion[1:, :-1] = np.eye(n - 2)
    return np.linalg.solve(np.eye(n - 1) - companion.T, b[1:] - a[1:] * b[0])


def sosfilt_zi(sos: np.ndarray) -> np.ndarray:
    """scipy.signal.sosfilt_zi: the state (sections x 2) of ``sos`` after a unit step, each
    section's step state scaled by the DC gain of the sections before it."""
    sos = np.asarray(sos, dtype=np.float64)
    zi = np.empty((len(sos), 2))
    scale = 1.0
    for i, (b, a) in enumerate(zip(sos[:, :3], sos[:, 3:])):
        zi[i] = scale * _lfilter_zi(b, a)
        scale *= np.sum(b) / np.sum(a)
    return zi


def sosfiltfilt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """scipy.signal.sosfiltfilt of a 1-D ``x`` (zero phase: forward, then backward), with
    its defaults: odd extension by 3 x the filter's taps, each pass started in steady
    state at its first sample."""
    sos, x = np.atleast_2d(np.asarray(sos, dtype=np.float64)), np.asarray(x, dtype=np.float64)
    taps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    edge = 3 * taps
    if x.ndim != 1 or x.size <= edge:
        raise ValueError(f"x must be 1-D and longer than {edge} samples, got shape {x.shape}")
    ext = np.concatenate([2 * x[0] - x[edge:0:-1], x, 2 * x[-1] - x[-2:-edge - 2:-1]])
    zi = sosfilt_zi(sos)
    y, _ = sosfilt(sos, ext, zi=zi * ext[0])
    y, _ = sosfilt(sos, y[::-1], zi=zi * y[-1])
    return y[::-1][edge:-edge]


# -- designs ------------------------------------------------------------------------------


def butter(order: int, cutoff, btype: str = "lowpass", *, fs: float) -> np.ndarray:
    """scipy.signal.butter(..., fs=fs, output="sos") for btype lowpass, highpass or bandpass:
    the analog prototype, its poles moved to the (prewarped) band, the bilinear transform,
    then poles and zeros paired into second-order sections."""
    wn = np.asarray(cutoff, dtype=np.float64) / (fs / 2)
    if np.any(wn <= 0) or np.any(wn >= 1) or (wn.size > 1 and not wn[0] < wn[1]):
        raise ValueError(f"Butterworth band {cutoff} Hz must lie inside (0, {fs / 2}) Hz")
    warped = 2 * 2.0 * np.tan(np.pi * wn / 2.0)
    m = np.arange(-order + 1, order, 2, dtype=np.float64)
    p = -np.exp(1j * np.pi * m / (2 * order))  # the prototype: no zeros, gain 1
    if btype == "lowpass":
        z, p, k = np.zeros(0), float(warped) * p, float(warped) ** order
    elif btype == "highpass":
        z, p, k = np.zeros(order), float(warped) / p, np.real(1.0 / np.prod(-p))
    elif btype == "bandpass":
        bw, wo = float(warped[1] - warped[0]), float(np.sqrt(warped[0] * warped[1]))
        p_lp = (p * bw / 2).astype(np.complex128)
        p = np.concatenate((p_lp + np.sqrt(p_lp ** 2 - wo ** 2), p_lp - np.sqrt(p_lp ** 2 - wo ** 2)))
        z, k = np.zeros(order, complex), bw ** order
    else:
        raise ValueError(f"btype must be lowpass, highpass or bandpass, not {btype!r}")
    # bilinear transform (fs = 2 after the normalisation above); zeros at infinity go to -1
    z_z = np.concatenate(((4.0 + z) / (4.0 - z), -np.ones(len(p) - len(z))))
    k_z = k * np.real(np.prod(4.0 - z) / np.prod(4.0 - p))
    return _zpk2sos(z_z, (4.0 + p) / (4.0 - p), k_z)


def iirnotch(w0: float, Q: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """scipy.signal.iirnotch: (b, a) of a second-order notch at ``w0`` Hz, -3 dB wide w0 / Q."""
    w0 = 2 * float(w0) / fs
    if not 0.0 <= w0 <= 1.0:
        raise ValueError(f"notch frequency must lie inside [0, {fs / 2}] Hz")
    bw, w0 = w0 / float(Q) * math.pi, w0 * math.pi
    gain = 1.0 / (1.0 + math.tan(bw / 2.0))
    return (gain * np.array([1.0, -2.0 * math.cos(w0), 1.0]),
            np.array([1.0, -2.0 * gain * math.cos(w0), 2.0 * gain - 1.0]))


def tf2sos(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """scipy.signal.tf2sos (a[0] != 0): through the roots, as scipy does, so that the
    sections come out as scipy's to the last bit."""
    b, a = np.asarray(b, dtype=np.float64) / a[0], np.asarray(a, dtype=np.float64) / a[0]
    return _zpk2sos(np.roots(b / b[0]), np.roots(a), b[0])


def iircomb(w0: float, Q: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """scipy.signal.iircomb(w0, Q, ftype="notch", fs=fs): (b, a) of a comb notching every
    harmonic of ``w0`` Hz, each -3 dB wide w0 / Q; fs must be a multiple of w0."""
    w0, Q = float(w0), float(Q)
    n = round(fs / w0)
    if not 0 < w0 < fs / 2 or abs(w0 - fs / n) / fs > 1e-14:
        raise ValueError(f"comb frequency {w0} Hz must divide fs {fs} Hz, below Nyquist")
    beta = math.tan(n * (2 * math.pi * w0 / fs / Q) / 4)
    b, a = np.zeros(n + 1), np.zeros(n + 1)
    b[0], b[-1] = 1 / (1 + beta), -1 / (1 + beta)
    a[0], a[-1] = 1.0, -(1 - beta) / (1 + beta)
    return b, a


def _cplxreal(z: np.ndarray, tol: float = 100 * np.finfo(float).eps) -> tuple[np.ndarray, np.ndarray]:
    """scipy's _cplxreal: one of each conjugate pair (positive imaginary part) and the reals,
    both sorted (by real part, then magnitude of the imaginary part)."""
    z = np.atleast_1d(z)
    z = z[np.lexsort((abs(z.imag), z.real))]
    real = abs(z.imag) <= tol * abs(z)
    zr = z[real].real
    if real.all():
        return np.array([]), zr
    z = z[~real]
    zp, zn = z[z.imag > 0], z[z.imag < 0]
    if len(zp) != len(zn):
        raise ValueError("complex value with no matching conjugate")
    same_real = np.diff(zp.real) <= tol * abs(zp[:-1])
    diffs = np.diff(np.concatenate(([0], same_real, [0])))
    for start, stop in zip(np.nonzero(diffs > 0)[0], np.nonzero(diffs < 0)[0] + 1):
        for run in (zp[start:stop], zn[start:stop]):
            run[...] = run[np.lexsort([abs(run.imag)])]
    if any(abs(zp - zn.conj()) > tol * abs(zn)):
        raise ValueError("complex value with no matching conjugate")
    return (zp + zn.conj()) / 2, zr


def _nearest(fro: np.ndarray, to: complex, which: str) -> int:
    """Index of the element of ``fro`` nearest ``to``, among the real, complex or any."""
    order = np.argsort(np.abs(fro - to))
    if which == "any":
        return order[0]
    mask = np.isreal(fro[order])
    return order[np.nonzero(mask if which == "real" else ~mask)[0][0]]


def _section(z: list, p: list) -> np.ndarray:
    """One second-order section (gain 1) with zeros ``z`` and poles ``p`` (at most two each)."""
    sos = np.zeros(6)
    b, a = np.atleast_1d(np.poly(z)), np.atleast_1d(np.poly(p))
    sos[3 - len(b):3], sos[6 - len(a):6] = b, a
    return sos


def _zpk2sos(z: np.ndarray, p: np.ndarray, k: float) -> np.ndarray:
    """scipy.signal.zpk2sos (digital, pairing "nearest"): each section takes the pole
    nearest the unit circle left (and its conjugate) with the zeros nearest it; sections
    are filled from the last, so the sharpest come last; the gain goes in the first."""
    p = np.concatenate((p, np.zeros(max(len(z) - len(p), 0))))
    z = np.concatenate((z, np.zeros(max(len(p) - len(z), 0))))
    n_sections = (len(p) + 1) // 2
    if len(p) % 2:
        p, z = np.concatenate((p, [0.0])), np.concatenate((z, [0.0]))
    z, p = np.concatenate(_cplxreal(z)), np.concatenate(_cplxreal(p))
    sos = np.zeros((n_sections, 6))

    def worst(q):
        return np.argmin(np.abs(1 - np.abs(q)))

    def take(q, i):
        return q[i], np.delete(q, i)

    for si in range(n_sections - 1, -1, -1):
        p1, p = take(p, worst(p))
        if np.isreal(p1) and np.isreal(p).sum() == 0:  # the last real pole
            z1, z = take(z, _nearest(z, p1, "real"))
            sos[si] = _section([z1, 0], [p1, 0])
        elif (len(p) + 1 == len(z) and not np.isreal(p1)
              and np.isreal(p).sum() == 1 and np.isreal(z).sum() == 1):
            z1, z = take(z, _nearest(z, p1, "complex"))  # one real pole and zero left: a complex zero
            sos[si] = _section([z1, z1.conj()], [p1, p1.conj()])
        else:
            if np.isreal(p1):
                real = np.flatnonzero(np.isreal(p))
                p2, p = take(p, real[worst(p[real])])
            else:
                p2 = p1.conj()
            if not len(z):
                sos[si] = _section([], [p1, p2])
                continue
            z1, z = take(z, _nearest(z, p1, "any"))
            if not np.isreal(z1):
                sos[si] = _section([z1, z1.conj()], [p1, p2])
            elif len(z):
                z2, z = take(z, _nearest(z, p1, "real"))
                sos[si] = _section([z1, z2], [p1, p2])
            else:
                sos[si] = _section([z1], [p1, p2])
    sos[0][:3] *= k
    return sos


# -- spectrum -----------------------------------------------------------------------------


def welch(x: np.ndarray, fs: float, nperseg: int, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """scipy.signal.welch with its defaults (periodic Hann window, half overlap, each
    segment's mean removed, one-sided density, mean over segments): (freqs, power)."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    nperseg = min(int(nperseg), x.shape[-1])
    hop = nperseg - nperseg // 2
    win = 0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, nperseg + 1)[:nperseg])
    starts = np.arange((x.shape[-1] - nperseg // 2) // hop) * hop
    seg = x[..., starts[:, None] + np.arange(nperseg)]  # ... x segments x nperseg
    seg = seg - seg.mean(axis=-1, keepdims=True)
    power = np.abs(np.fft.rfft(seg * win, axis=-1)) ** 2 / (fs * np.sum(win ** 2))
    power[..., 1:-1 if nperseg % 2 == 0 else None] *= 2
    return np.fft.rfftfreq(nperseg, 1 / fs), np.moveaxis(power.mean(axis=-2), -1, axis)
