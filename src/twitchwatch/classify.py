"""Burst -> Episode: what kind of event a burst is (twitch, spasm or artifact).

Two classifiers with one interface, ``classify(bursts, channel_names) -> episodes``:

- ``ModelClassifier``: the learned model (``estimator.EpisodeClassifier``, a scikit-learn
  estimator saved with skops in models/; its trees read back by ``load_predictor``), the
  default. It has a fourth class, ``noise``: a burst
  the detector found where nothing happened; such bursts are not reported. Its
  ``confidence`` is the model's calibrated probability of the kind it reports.
- ``RuleClassifier``: transparent rules on the same features, kept as a baseline (and
  for ``--model rules``):
- artifact: the burst's low band (3-15 Hz, where motion swings, electrode pops and ECG
  live) stands out more than its EMG band (``lf_ratio`` above ``lf_max``; a sustained
  burst needs ``lf_max_sustained``), or its spectrum sits below ``centroid_min_hz``;
- twitch: shorter than ``twitch_max_s`` (one motor unit's potential, or a doublet), on a
  quiet background (inside sustained activity, a short burst is part of a spasm);
- spasm: at least ``spasm_min_s`` long (a sustained interference pattern);
- in between: a brief contraction, reported as artifact (not involuntary twitching);
- short bursts in a steady 0.33-1.5 s rhythm (``rhythm``) are ECG: artifact.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .dsp import board_cutoff
from .errors import UserError
from .types import Burst, Episode

MODEL_CLASSES = ("twitch", "spasm", "artifact", "noise")
# Bump when the features change: a model trained on other features is refused.
FEATURE_VERSION = "9"
FEATURES = ("log_duration_ms", "log_snr", "log_crest", "phases", "turns_rel", "centroid_rel", "log_lf_ratio",
            "spread", "log_background", "rhythm", "log_band_hz", "log_prev_gap_ms",
            "log_prev_ratio", "log_lead", "sync", "centroid_over_noise", "log_body", "log_peakiness",
            "log_flatness")
TWITCH_SURE = 0.6  # the least probability at which a burst is called a twitch (ModelClassifier) ...
SPASM_SURE = 0.5  # ... and a spasm: more likely than not
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "twitchwatch-default.skops"


@dataclass
class RuleClassifier:
    """Kinds from a few thresholds; ``confidence`` grows with the distance from them."""

    twitch_max_s: float = 0.12
    spasm_min_s: float = 0.3
    lf_max: float = 0.9
    lf_max_sustained: float = 3.0
    centroid_min_hz: float = 30.0
    background_max: float = 1.5

    def kind(self, f: dict[str, float]) -> tuple[str, float]:
        dur, lf, cent = f["duration_s"], f["lf_ratio"], f["centroid_hz"]
        low_margin = np.log(max(cent, 1e-3) / self.centroid_min_hz)
        if dur >= self.spasm_min_s:
            margin = min(np.log(self.lf_max_sustained / max(lf, 1e-6)), low_margin)
            if margin < 0:
                return "artifact", _sure(-margin)
            return "spasm", _sure(min(np.log(dur / self.spasm_min_s), margin))
        margin = min(np.log(self.lf_max / max(lf, 1e-6)), low_margin)
        if margin < 0:
            return "artifact", _sure(-margin)
        if f.get("rhythm", 0.0) > 0.5:  # a steady rhythm of short bursts: a heartbeat
            return "artifact", 0.9
        if f.get("background", 1.0) >= self.background_max:
            return "spasm", _sure(np.log(f["background"] / self.background_max) * 4)
        if dur < self.twitch_max_s:
            return "twitch", _sure(min(np.log(self.twitch_max_s / max(dur, 1e-4)), margin))
        mid = np.sqrt(self.twitch_max_s * self.spasm_min_s)
        return "artifact", _sure(np.log(self.spasm_min_s / self.twitch_max_s) / 2 - abs(np.log(dur / mid)))

    def classify(self, bursts: list[Burst], channel_names: tuple[str, ...]) -> list[Episode]:
        calls = [self.kind(b.features) for b in bursts]
        kinds = [kind for kind, _ in calls]
        return [Episode(b.channel, channel_names[b.channel], b.start_s, b.end_s, kind,
                        b.features.get("peak_uv", 0.0), conf, dict(b.features))
                for b, (kind, conf), keep in zip(bursts, calls, reported(bursts, kinds)) if keep]


LONG_MOVEMENT_S = 3.0  # a burst called artifact this long is mostly something else: see ``reported``


def reported(bursts: list[Burst], kinds: list[str]) -> list[bool]:
    """Which bursts become episodes: none called noise; of the spikes inside a long burst
    (``inner``, queued with it), only twitches and spasms, and only inside a long burst
    called noise (a stretch of raised noise with a twitch far above it) or an artifact
    of ``LONG_MOVEMENT_S`` or more. Inside a contraction or a movement a spike is part
    of it, and the long burst already says what was there; but a movement's burst that
    lasts that long is mostly noise it ran into (a swell the detector could not close
    on), and the twitches in it are no part of the movement: on both simulators they
    are found there, and no false one is (own held-out 200 / 1000 Hz: 4 / 6 more
    twitches found; the independent generator: 3-7 more a rate, none false). The
    spikes called spasm there are a contraction the long burst hid: reported, they are
    joined with the others (``SpasmJoiner``), a brief contraction when under 0.5 s, and
    a twitch just before them becomes its lead (``pipeline.leads_as_artifacts``).
    (Independent generator, 20 seeds: false twitches 36 -> 31, none found lost, spasms
    unchanged; brief contractions called twitch 17 -> 14 of 220 at 200 / 250 / 1000 Hz;
    PLUX 26 -> 22 twitches; our held-out and plain generators unchanged.)

    Nor is a twitch whose burst starts at the stream's first sample: the recording's
    start cuts it, so its shape is not known, and there the filters start on a history
    they make up (``dsp.Preprocessor._lead_in``), which strong mains hum leaves a few
    samples off. On the independent generator at 200 Hz, 1 min, 40 seeds: 3 false
    twitches at 0 s (of 11), none true."""
    keep = [kind != "noise" for kind in kinds]
    hosts = [b for b, kind in zip(bursts, kinds) if not b.features.get("inner", 0.0) and (
        kind == "noise" or kind == "artifact" and b.end_s - b.start_s >= LONG_MOVEMENT_S)]
    for i, (b, kind) in enumerate(zip(bursts, kinds)):
        if b.features.get("inner", 0.0):
            keep[i] = kind in ("twitch", "spasm") and any(
                q.channel == b.channel and q.start <= b.start and b.stop <= q.stop for q in hosts)
    return [k and not (kind == "twitch" and b.start == 0) for k, b, kind in zip(keep, bursts, kinds)]


def _sure(margin: float) -> float:
    """A confidence in [0.5, 1) from a log-margin past a threshold."""
    return float(0.5 + 0.5 * np.tanh(2.0 * max(margin, 0.0)))


def band_top(fs: float) -> float:
    """The top of the band a burst can show at ``fs``: the board's low-pass or ours."""
    return float(min(board_cutoff(fs), 0.45 * fs, 450.0))


def feature_matrix(features: list[dict[str, float]], fs: float) -> np.ndarray:
    """The model's inputs (rows: bursts, columns: FEATURES) from the detector's features.

    Made as independent of the sampling rate and the units as the physics allows:
    durations in ms, amplitudes only over the noise floor (never in uV: boards, gains and
    units differ), spectral centroid and turns over the band's top."""
    keys = ("duration_s", "snr", "peak_uv", "rms_uv", "phases", "turns_per_s", "centroid_hz", "lf_ratio",
            "spread", "background", "rhythm", "prev_gap_s", "prev_ratio", "lead", "sync", "noise_centroid_hz",
            "body_uv", "sigma_uv", "flatness")
    raw = np.array([[f.get(k, 0.0) for k in keys] for f in features], dtype=np.float64).reshape(-1, len(keys))
    (dur, snr, ptp, rms, phases, turns, cent, lf, spread, bg, rhythm, gap, ratio, lead, sync, noise_cent, body, sigma,
     flat) = raw.T
    top = band_top(fs)
    tiny = 1e-9
    return np.column_stack([
        np.log(np.maximum(dur * 1000.0, tiny)), np.log(np.maximum(snr, tiny)),
        np.log(np.maximum(ptp, tiny) / np.maximum(rms, tiny)), phases, turns / top, cent / top,
        np.log(np.maximum(lf, tiny)), spread, np.log(np.maximum(bg, tiny)), rhythm,
        np.full(dur.shape, np.log(top)),
        np.log(np.maximum(gap * 1000.0, 1.0)), np.log(np.maximum(ratio, 1e-3)),
        np.log(np.maximum(lead, 1e-3)), sync,
        np.where(noise_cent > 0, (cent - noise_cent) / top, 0.0),  # (0 where the noise's colour is not known)
        np.log(np.maximum(body, tiny) / np.maximum(sigma, tiny)),  # the body's level over the floor ...
        np.log(np.maximum(rms, tiny) / np.maximum(body, tiny)),  # ... and how much of the power is in a few spikes
        np.log(np.maximum(flat, tiny)),
    ])


@lru_cache(maxsize=1)
def _walker():
    """The compiled tree walk (the module twitchwatch._trees: leaves, class_sums) when the
    install built it, else None (the numpy walk does the same work)."""
    try:
        from . import _trees
        return _trees
    except ImportError:
        return None


class TreeEnsemble:
    """Gradient-boosted trees as flat node arrays: ``trees_`` (children as absolute
    indices, a leaf's children itself, and each tree's root), ``baseline_``,
    ``classes_``, ``n_features_in_``. The prediction half of the scikit-learn estimator
    ``estimator.EpisodeClassifier``; the pipeline predicts with one read straight from the
    model file (``load_predictor``), so that analysing does not import scikit-learn."""

    classes_: np.ndarray
    n_features_in_: int
    baseline_: np.ndarray
    trees_: dict[str, np.ndarray]

    def decision_function(self, X) -> np.ndarray:
        """Raw scores (rows x classes): the baseline plus every tree's leaf value.

        All (row, tree) pairs step down together; pairs that reach a leaf drop out, so
        the work is the total path length, not rows x trees x the deepest tree. The pairs
        still going carry their node and row with them, and a node's two children sit
        side by side (right, left), so that a step is one lookup. (The compiled walk, when
        built, takes each row down four trees at a time: the same leaves, 5 x faster; and
        adds up each class's leaf values in numpy's order without gathering them.)"""
        X = np.ascontiguousarray(X, dtype=np.float64).reshape(-1, self.n_features_in_)
        t, n = self.trees_, X.shape[0]
        n_trees = t["root"].size
        k = self.baseline_.size  # tree j belongs to class j % k
        walk = _walker()
        if walk is not None:
            node = np.empty((n, n_trees), dtype=np.int64)
            walk.leaves(X, *(np.ascontiguousarray(t[a], dtype) for a, dtype in (
                ("root", np.int64), ("feature", np.int64), ("threshold", np.float64), ("missing_left", bool),
                ("left", np.int64), ("right", np.int64), ("leaf", bool))), node)
            if k > 1 and n_trees:  # (numpy sums one class's trees pairwise, several classes' tree by tree)
                raw = np.empty((n, k))
                walk.class_sums(node, np.ascontiguousarray(t["value"], np.float64), raw)
                return raw + self.baseline_
            return t["value"][node].reshape(n, n_trees // k, k).sum(axis=1) + self.baseline_
        children = np.stack([t["right"], t["left"]], axis=1).ravel()
        node = np.tile(t["root"], n)
        base = np.repeat(np.arange(n) * X.shape[1], n_trees)
        flat = X.ravel()
        todo, at = np.arange(node.size), node.copy()
        while todo.size:
            x = flat[base + t["feature"][at]]
            left = x <= t["threshold"][at]
            nan = np.isnan(x)
            if nan.any():
                left = np.where(nan, t["missing_left"][at], left)
            step = children[2 * at + left]
            node[todo] = step
            going = np.flatnonzero(~t["leaf"][step])
            todo, at, base = todo[going], step[going], base[going]
        values = t["value"][node].reshape(n, n_trees)
        return values.reshape(n, n_trees // k, k).sum(axis=1) + self.baseline_

    def predict_proba(self, X) -> np.ndarray:
        raw = self.decision_function(X)
        if raw.shape[1] == 1:  # two classes: one logit
            p = 1.0 / (1.0 + np.exp(-raw[:, 0]))
            return np.column_stack([1.0 - p, p])
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


_TREE_ARRAYS = ("root", "feature", "threshold", "missing_left", "left", "right", "leaf", "value")


def _ensemble(path: Path, state: dict) -> TreeEnsemble:
    """A TreeEnsemble from a fitted EpisodeClassifier's attributes, after checking that
    the trees hold together (indices in range), so that a damaged file fails here, in one
    line, not as an IndexError in the middle of an analysis."""
    version = state.get("feature_version_")
    if version != FEATURE_VERSION:
        raise UserError(f"--model {path}: made for features version {version}, this twitchwatch uses "
                        f"{FEATURE_VERSION}; retrain it with `twitchwatch train`")
    try:
        t = {k: np.asarray(state["trees_"][k]) for k in _TREE_ARRAYS}
        out = TreeEnsemble()
        out.classes_, out.baseline_ = np.asarray(state["classes_"]), np.asarray(state["baseline_"], np.float64)
        out.n_features_in_, out.trees_ = int(state["n_features_in_"]), t
        n, k = t["leaf"].size, out.baseline_.size
        sound = (all(t[a].shape == (n,) for a in _TREE_ARRAYS if a != "root") and t["root"].ndim == 1
                 and all(((t[a] >= 0) & (t[a] < n)).all() for a in ("root", "left", "right"))
                 and ((t["feature"] >= 0) & (t["feature"] < out.n_features_in_)).all()
                 and k > 0 and t["root"].size % k == 0 and out.classes_.size == max(k, 2))
    except (KeyError, TypeError, ValueError):
        sound = False
    if not sound:
        raise UserError(f"--model {path}: its trees do not hold together (a damaged file?); "
                        "retrain it with `twitchwatch train`")
    for a in ("root", "feature", "left", "right"):
        t[a] = t[a].astype(np.intp)
    t["leaf"], t["missing_left"] = t["leaf"].astype(bool), t["missing_left"].astype(bool)
    t["threshold"], t["value"] = t["threshold"].astype(np.float64), t["value"].astype(np.float64)
    return out


class ModelClassifier:
    """A fitted model (a TreeEnsemble, or the EpisodeClassifier that extends it) as the
    pipeline's classify stage. A burst is called a twitch only when the model gives it
    ``TWITCH_SURE`` or more, and a spasm only at ``SPASM_SURE`` or more; else it is an
    artifact or noise, whichever the model ranks higher. The twitch is the claim a wearer
    acts on, and the model's unsure twitches are where it fails on real signal it was not
    trained on: the Myo rest file left out of training went from 11 to 5 twitches a
    minute, while twitch F1 on either simulator moved by 0.016 at most (up on the
    independent one). Its unsure spasms (0.37-0.49) were most of the independent
    generator's false spasms on 8 channels (200 Hz spasm F1 0.79 -> 0.92 over 10 seeds),
    and cost no true one over 40 seeds on 4."""

    def __init__(self, model: TreeEnsemble, fs: float):
        self.model, self.fs = model, float(fs)

    def classify(self, bursts: list[Burst], channel_names: tuple[str, ...]) -> list[Episode]:
        if not bursts:
            return []
        proba = self.model.predict_proba(feature_matrix([b.features for b in bursts], self.fs))
        best = np.argmax(proba, axis=1)
        classes = list(self.model.classes_)
        unsure = np.zeros(best.shape, dtype=bool)
        for kind, least in (("twitch", TWITCH_SURE), ("spasm", SPASM_SURE)):
            k = classes.index(kind)
            unsure |= (best == k) & (proba[:, k] < least)
        if unsure.any():  # not sure enough of the kind: artifact or noise, as the model ranks them
            other = np.isin(classes, ("artifact", "noise"))
            best = np.where(unsure, np.argmax(np.where(other, proba, -1.0), axis=1), best)
        kinds = [str(classes[k]) for k in best]
        return [Episode(b.channel, channel_names[b.channel], b.start_s, b.end_s, kind,
                        b.features.get("peak_uv", 0.0), float(p[k]), dict(b.features))
                for b, k, p, kind, keep in zip(bursts, best, proba, kinds, reported(bursts, kinds)) if keep]


# Beyond the types skops trusts by default (numpy arrays, scikit-learn's plain estimators
# and losses), a model file may hold these and nothing else; it is refused before loading.
TRUSTED_TYPES = ("twitchwatch.estimator.EpisodeClassifier",)


def save_model(model: TreeEnsemble, path: str | Path, meta: dict | None = None) -> None:
    """Write ``model`` with skops (never pickle), and its metadata beside it as JSON."""
    import skops.io as sio

    path = Path(path)
    sio.dump(model, path)
    untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
    if untrusted:
        path.unlink()
        raise RuntimeError(f"the model holds types the loader will refuse: {untrusted}; add them to TRUSTED_TYPES")
    if meta is not None:
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")


def _model_path(path: str | Path | None) -> tuple[Path, int | None]:
    """The model file (the shipped one for None) and its modification stamp (None when
    it does not exist): with it, the loaders' caches see a retrained file."""
    path = Path(path) if path is not None else DEFAULT_MODEL
    try:
        return path.resolve(), path.stat().st_mtime_ns
    except OSError:
        return path.resolve(), None


def load_model(path: str | Path | None = None):
    """The scikit-learn estimator (``estimator.EpisodeClassifier``) in a skops file,
    refusing any type outside TRUSTED_TYPES and any model made for other features
    (one-line UserError naming the file). Cached per file and version."""
    return _load_model(*_model_path(path))


@lru_cache(maxsize=8)
def _load_model(path: Path, stamp: int | None):
    import skops.io as sio

    from .estimator import EpisodeClassifier

    if stamp is None or not path.is_file():
        raise UserError(f"--model {path}: no such model file" + (
            "; the default model ships in models/ (run scripts/train_default_model.py to rebuild it)"
            if path == DEFAULT_MODEL.resolve() else ""))
    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise UserError(f"--model {path}: not a skops model file ({type(exc).__name__}); give a .skops file "
                        "made by `twitchwatch train`") from None
    refused = sorted(t for t in found if t not in TRUSTED_TYPES)
    if refused:
        raise UserError(f"--model {path}: refused, it holds types twitchwatch does not trust "
                        f"({', '.join(refused[:3])}{', ...' if len(refused) > 3 else ''}); if another "
                        "version of twitchwatch made it, retrain it with `twitchwatch train`")
    try:
        model = sio.load(path, trusted=sorted(found))
    except Exception as exc:
        raise UserError(f"--model {path}: could not be loaded ({type(exc).__name__}: {exc}); "
                        "it may come from another version of scikit-learn or twitchwatch; retrain it "
                        "with `twitchwatch train`") from None
    if not isinstance(model, EpisodeClassifier):
        raise UserError(f"--model {path}: holds a {type(model).__name__}, not a twitchwatch classifier")
    _ensemble(path, vars(model))  # the same checks as load_predictor's
    return model


def load_predictor(path: str | Path | None = None) -> TreeEnsemble:
    """What the pipeline predicts with: the trees of the model in a skops file.

    A file that holds only plain data under our one trusted type (JSON scalars, numpy
    arrays without pickles, dicts with string keys), as ``save_model`` writes it, is read
    here directly: importing scikit-learn and skops to load it would cost more than a
    second of every command's start-up. Any other file goes through ``load_model``, which
    refuses what it does not trust. Cached per file and version."""
    return _load_predictor(*_model_path(path))


@lru_cache(maxsize=8)
def _load_predictor(path: Path, stamp: int | None) -> TreeEnsemble:
    state = _plain_state(path) if stamp is not None else None
    return _ensemble(path, state if state is not None else vars(_load_model(path, stamp)))


class _NotPlain(Exception):
    pass


def _plain_state(path: Path) -> dict | None:
    """The attributes of the EpisodeClassifier in a skops file (protocol 2), or None
    when the file holds anything but plain data; nothing in it is run or unpickled."""
    def value(node: dict, z: zipfile.ZipFile):
        kind, cls = node.get("__loader__"), f"{node.get('__module__')}.{node.get('__class__')}"
        if kind == "JsonNode" and node.get("is_json") is True:
            return json.loads(node["content"])
        if kind == "NdArrayNode" and node.get("type") == "numpy" and cls == "numpy.ndarray":
            return np.load(io.BytesIO(z.read(node["file"])), allow_pickle=False)
        if kind == "DictNode" and cls == "builtins.dict":
            keys = node["key_types"]
            if keys.get("__loader__") != "ListNode" or any(
                    (k.get("__loader__"), k.get("__module__"), k.get("__class__")) != ("TypeNode", "builtins", "str")
                    for k in keys["content"]):
                raise _NotPlain
            return {str(k): value(v, z) for k, v in node["content"].items()}
        raise _NotPlain

    try:
        with zipfile.ZipFile(path) as z:
            schema = json.loads(z.read("schema.json"))
            if (schema.get("protocol") != 2 or schema.get("__loader__") != "ObjectNode"
                    or f"{schema.get('__module__')}.{schema.get('__class__')}" not in TRUSTED_TYPES):
                return None
            state = value(schema["content"], z)
    except (_NotPlain, zipfile.BadZipFile, OSError, KeyError, TypeError, AttributeError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def make_classifier(model: str | Path | None, fs: float):
    """The classify stage for ``--model``: None for the default model, 'rules' for the
    rule baseline, or a path to a skops model."""
    if str(model) == "rules":
        return RuleClassifier()
    return ModelClassifier(load_predictor(model), fs)
