"""The compiled tree walk (twitchwatch._trees) against the numpy walk of
classify.TreeEnsemble: the same scores to the bit on the shipped model, NaN features
included, and a damaged tree refused rather than walked forever."""
from __future__ import annotations

import numpy as np
import pytest

from twitchwatch import classify

trees = pytest.importorskip("twitchwatch._trees", reason="the C extension was not built")


@pytest.fixture(scope="module")
def model() -> classify.TreeEnsemble:
    return classify.load_predictor(None)


def _numpy_scores(model, X, monkeypatch) -> np.ndarray:
    with monkeypatch.context() as m:
        m.setattr(classify, "_walker", lambda: None)
        return model.decision_function(X)


@pytest.mark.parametrize("seed", range(4))
def test_the_compiled_walk_gives_numpys_scores(model, seed, monkeypatch):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(int(rng.integers(1, 400)), model.n_features_in_)) * rng.uniform(0.5, 5.0)
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values go where each node sends them
    thresholds = model.trees_["threshold"][~model.trees_["leaf"]]
    X[:, 0] = rng.choice(thresholds, X.shape[0])  # exactly on a threshold: goes left
    assert classify._walker() is not None
    np.testing.assert_array_equal(model.decision_function(X), _numpy_scores(model, X, monkeypatch))
    np.testing.assert_array_equal(model.predict_proba(X[:0]), np.zeros((0, len(model.classes_))))


def test_a_tree_that_never_reaches_a_leaf_is_refused(model):
    t = {k: np.array(v) for k, v in model.trees_.items()}
    inner = int(np.flatnonzero(~t["leaf"])[0])
    t["left"][inner] = t["right"][inner] = inner  # a cycle
    out = np.empty((1, t["root"].size), dtype=np.int64)
    args = [np.ascontiguousarray(t[a], d) for a, d in (("root", np.int64), ("feature", np.int64),
                                                       ("threshold", np.float64), ("missing_left", bool),
                                                       ("left", np.int64), ("right", np.int64), ("leaf", bool))]
    X = np.zeros((1, model.n_features_in_))
    t["root"][:] = inner
    args[0] = np.ascontiguousarray(t["root"], np.int64)
    with pytest.raises(ValueError, match="never reaches a leaf"):
        trees.leaves(X, *args, out)
    with pytest.raises(TypeError, match="X: expected a 2-D array of float64"):
        trees.leaves(X.astype(np.float32), *args, out)


@pytest.mark.parametrize("n_trees", [1, 3, 6, 29])
def test_leaves_of_any_number_of_trees_and_rows(model, n_trees):
    """Groups of four trees and two rows, and what is left over, against a plain walk."""
    t = model.trees_
    rng = np.random.default_rng(n_trees)
    root = rng.choice(t["root"], n_trees, replace=False).astype(np.int64)
    X = rng.normal(size=(37, model.n_features_in_))
    X[rng.random(X.shape) < 0.1] = np.nan
    out = np.empty((X.shape[0], n_trees), dtype=np.int64)
    trees.leaves(X, root, *[np.ascontiguousarray(t[a], d) for a, d in (
        ("feature", np.int64), ("threshold", np.float64), ("missing_left", bool), ("left", np.int64),
        ("right", np.int64), ("leaf", bool))], out)
    for r, x in enumerate(X):
        for j, node in enumerate(root):
            while not t["leaf"][node]:
                v = x[t["feature"][node]]
                node = t["left"][node] if (t["missing_left"][node] if np.isnan(v) else v <= t["threshold"][node]) \
                    else t["right"][node]
            assert out[r, j] == node


@pytest.mark.parametrize("k", [2, 3, 4, 7])
def test_class_sums_are_numpys(k):
    """Each class's leaf values added up as numpy sums them over the trees, any number of
    rows (one included) and classes."""
    rng = np.random.default_rng(k)
    value = rng.normal(size=500) * 10.0 ** rng.uniform(-3, 3, size=500)
    for rows in (1, 2, 37):
        node = rng.integers(0, value.size, size=(rows, 60 * k))
        out = np.empty((rows, k))
        trees.class_sums(node, value, out)
        np.testing.assert_array_equal(out, value[node].reshape(rows, 60, k).sum(axis=1))
    with pytest.raises(ValueError, match="whole number"):
        trees.class_sums(np.ascontiguousarray(node[:, 1:]), value, out)
