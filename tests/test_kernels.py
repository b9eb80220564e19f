"""Property tests: the Numba kernels against plain NumPy / plain Python references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_smoothing import ReferenceOneEuro

from fastpose.kernels import (
    _one_euro,
    _person_ids,
    _threshold,
    mask_to_ids,
    one_euro,
    one_euro_state,
    person_ids,
    warm_up,
)

# No deadline: the first example may load (or, with a cold cache, compile) the kernels.
PROPERTY = settings(max_examples=100, deadline=None)

values = st.one_of(
    st.floats(-1e3, 1e3, width=32),
    st.just(np.nan),
    st.sampled_from([0.0, 0.5, 1.0]),
)
#: Mostly video frame steps, sometimes gaps; ``backward`` adds repeated and backward steps.
steps = st.one_of(st.sampled_from([1 / 30, 1 / 60, 1 / 24]), st.floats(1e-3, 120.0))
backward = st.one_of(steps, st.just(0.0), st.floats(-10.0, -1e-3))
params = st.tuples(st.floats(1e-2, 100.0), st.floats(0.0, 100.0), st.floats(1e-2, 100.0))


@st.composite
def streams(draw: st.DrawFn, step: st.SearchStrategy[float] = steps) -> tuple:
    """(t, x, splits): times from ``step``s, features with NaNs, and where to cut into batches."""
    n_t, n = draw(st.integers(0, 40)), draw(st.integers(1, 6))
    dt = draw(hnp.arrays(np.float64, n_t, elements=step))
    t = draw(st.floats(0.0, 1e4)) + np.cumsum(dt)
    x = draw(hnp.arrays(np.float32, (n_t, n), elements=values))
    splits = sorted(draw(st.lists(st.integers(0, n_t), max_size=5)))
    return t, x, splits


def run_kernel(t: np.ndarray, x: np.ndarray, splits: list[int], p: tuple) -> np.ndarray:
    state = one_euro_state(x.shape[1])
    parts = zip(np.split(t, splits), np.split(x, splits), strict=True)
    return np.concatenate([one_euro(tb, xb, state, *p) for tb, xb in parts])


def assert_matches_reference(t: np.ndarray, x: np.ndarray, got: np.ndarray, p: tuple) -> None:
    expected = ReferenceOneEuro(*p)(t, x)
    # The paper's a*x + (1-a)*x_prev rounds differently from the kernel's x_prev + a*(x - x_prev).
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(x))


@PROPERTY
@given(streams(), params)
def test_one_euro_matches_reference_across_batches(stream: tuple, p: tuple) -> None:
    t, x, splits = stream
    got = run_kernel(t, x, splits, p)
    assert got.dtype == np.float32 and got.shape == x.shape
    assert_matches_reference(t, x, got, p)
    np.testing.assert_array_equal(got, run_kernel(t, x, [], p))  # splits change no bit


@PROPERTY
@given(streams(backward), params)
def test_one_euro_survives_repeated_and_backward_times(stream: tuple, p: tuple) -> None:
    t, x, splits = stream
    got = run_kernel(t, x, splits, p)
    assert np.isfinite(got[~np.isnan(x)]).all()
    assert_matches_reference(t, x, got, p)


@PROPERTY
@given(streams(), params)
def test_one_euro_output_stays_within_the_input_range(stream: tuple, p: tuple) -> None:
    """A low-pass of positive weights never leaves the range of the samples since the last NaN."""
    t, x, _ = stream
    got = run_kernel(t, x, [], p)
    finite = ~np.isnan(x)
    lo = np.nanmin(np.where(finite, x, np.inf), axis=0, initial=np.inf)
    hi = np.nanmax(np.where(finite, x, -np.inf), axis=0, initial=-np.inf)
    assert (got[finite] >= np.broadcast_to(lo, x.shape)[finite]).all()
    assert (got[finite] <= np.broadcast_to(hi, x.shape)[finite]).all()


def test_one_euro_rejects_a_mismatched_state() -> None:
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"state: expected C-contiguous float64 of shape \(3, 4\)"):
        one_euro(np.arange(2.0), x, one_euro_state(5), 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"t: expected shape \(2,\), got \(3,\)"):
        one_euro(np.arange(3.0), x, one_euro_state(4), 1.0, 0.0, 1.0)


mask_values = st.one_of(
    st.floats(-1.0, 2.0, width=32), st.sampled_from([np.nan, np.inf, -np.inf, 0.5])
)
thresholds = st.one_of(st.floats(0.0, 1.0), st.just(0.5))


def masks(shape: st.SearchStrategy[tuple[int, ...]]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float32, shape, elements=mask_values)


def reference_ids(m: np.ndarray, threshold: float) -> np.ndarray:
    return (m > np.float32(threshold)).astype(np.uint8)


@PROPERTY
@given(masks(hnp.array_shapes(min_dims=2, max_dims=3, min_side=0, max_side=12)), thresholds)
def test_mask_to_ids_matches_numpy(m: np.ndarray, threshold: float) -> None:
    got = mask_to_ids(m, threshold)
    assert got.dtype == np.uint8 and got.shape == m.shape
    np.testing.assert_array_equal(got, reference_ids(m, threshold))


def reference_person_ids(m: np.ndarray, threshold: float) -> np.ndarray:
    """Plain NumPy: 1 + the most probable person above the threshold (the first of ties), else 0."""
    above = m > np.float32(threshold)
    best = np.where(above, m, -np.inf).argmax(axis=-3)
    return np.where(above.any(axis=-3), best + 1, 0).astype(np.uint8)


@PROPERTY
@given(masks(hnp.array_shapes(min_dims=3, max_dims=4, min_side=0, max_side=8)), thresholds)
def test_person_ids_match_numpy(m: np.ndarray, threshold: float) -> None:
    got = person_ids(m, threshold)
    assert got.dtype == np.uint8 and got.shape == m.shape[:-3] + m.shape[-2:]
    if m.shape[-3] == 0:
        assert not got.any()
        return
    np.testing.assert_array_equal(got, reference_person_ids(m, threshold))
    # any person's pixel is a person's pixel: the union, as with one mask
    np.testing.assert_array_equal(got > 0, reference_ids(m, threshold).max(axis=-3, initial=0) > 0)


def test_person_ids_of_one_person_are_its_mask() -> None:
    m = np.random.default_rng(1).random((2, 1, 30, 40)).astype(np.float32)
    np.testing.assert_array_equal(person_ids(m), mask_to_ids(m[:, 0]))


def test_mask_to_ids_takes_any_layout_and_dtype() -> None:
    m = np.random.default_rng(0).random((3, 40, 50))
    expected = reference_ids(m.astype(np.float32), 0.5)
    np.testing.assert_array_equal(mask_to_ids(m), expected)  # float64
    view = np.asfortranarray(m.astype(np.float32))
    view.flags.writeable = False
    np.testing.assert_array_equal(mask_to_ids(view), expected)
    np.testing.assert_array_equal(mask_to_ids(m[1]), expected[1])
    assert mask_to_ids(np.zeros((0, 40, 50), np.float32)).shape == (0, 40, 50)


@pytest.mark.parametrize("shape", [(5,), (1, 2, 3, 4)])
def test_mask_to_ids_rejects_other_ranks(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"masks: expected \(H, W\) or \(T, H, W\), got shape"):
        mask_to_ids(np.zeros(shape, np.float32))


def test_each_kernel_has_one_signature_whatever_the_input() -> None:
    """Wrappers convert inputs, so one compiled (and disk-cached) variant serves every call."""
    warm_up()
    rng = np.random.default_rng(0)
    x = rng.random((4, 6, 2))[:, :, 0]  # float64, strided
    x.flags.writeable = False
    one_euro(np.arange(4), x, one_euro_state(6), 1, 0, 1)  # int times, int params
    one_euro(
        np.arange(4.0).astype(np.float32), x.astype(np.float16), one_euro_state(6), 1.0, 0.0, 1.0
    )
    m = np.asfortranarray(rng.random((2, 3, 5)))
    m.flags.writeable = False
    mask_to_ids(m, threshold=1)
    person_ids(m[None], threshold=np.float64(0.2))
    for kernel in (_one_euro, _threshold, _person_ids):
        assert len(kernel.signatures) == 1, (kernel, kernel.signatures)
