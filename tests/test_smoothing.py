"""Every smoother in SMOOTHERS, and a plain-Python One Euro reference, on what they promise."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from fastpose.smoothing import SMOOTHERS, NoSmoother, OneEuroSmoother, Smoother, make_smoother

FPS = 30.0


class ReferenceOneEuro:
    """The One Euro filter sample by sample, as the paper writes it (plus fastpose's NaN rules)."""

    def __init__(self, min_cutoff: float = 1.0, beta: float = 10.0, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self.prev: dict[int, tuple[float, float, float]] = {}  # feature -> (x_hat, dx_hat, t)

    @staticmethod
    def alpha(cutoff: float, te: float) -> float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    def step(self, j: int, t: float, x: float) -> float:
        if math.isnan(x):
            self.prev.pop(j, None)
            return math.nan
        if j not in self.prev:
            self.prev[j] = (x, 0.0, t)
            return x
        x_prev, dx_prev, t_prev = self.prev[j]
        te = t - t_prev
        if te <= 0:
            return x_prev
        a_d = self.alpha(self.d_cutoff, te)
        dx_hat = a_d * ((x - x_prev) / te) + (1 - a_d) * dx_prev
        a = self.alpha(self.min_cutoff + self.beta * abs(dx_hat), te)
        x_hat = a * x + (1 - a) * x_prev
        self.prev[j] = (x_hat, dx_hat, t)
        return x_hat

    def __call__(self, t: NDArray[np.float64], x: NDArray[np.float32]) -> NDArray[np.float32]:
        out = np.empty(np.shape(x), dtype=np.float32)
        for i, ti in enumerate(t):
            for j, v in enumerate(x[i]):
                out[i, j] = self.step(j, float(ti), float(v))
        return out


IMPLEMENTATIONS: dict[str, Callable[[], Smoother]] = {**SMOOTHERS, "reference": ReferenceOneEuro}
#: The ones that actually filter (all but the identity).
FILTERS = [name for name, cls in IMPLEMENTATIONS.items() if cls is not NoSmoother]


@pytest.fixture(params=list(IMPLEMENTATIONS))
def smoother(request: pytest.FixtureRequest) -> Smoother:
    return IMPLEMENTATIONS[request.param]()


@pytest.fixture(params=FILTERS)
def filtering(request: pytest.FixtureRequest) -> Smoother:
    return IMPLEMENTATIONS[request.param]()


@pytest.fixture(params=list(SMOOTHERS))
def shipped(request: pytest.FixtureRequest) -> Smoother:
    return make_smoother(request.param)


def frames(n: int, start: float = 0.0) -> NDArray[np.float64]:
    return start + np.arange(n) / FPS


def noisy_stream(n_t: int = 200, n: int = 12, seed: int = 0) -> tuple[NDArray, NDArray]:
    """A random walk with NaN holes and a few time gaps: the cases a landmark stream has."""
    rng = np.random.default_rng(seed)
    x = (0.5 + np.cumsum(rng.normal(0, 0.01, (n_t, n)), axis=0)).astype(np.float32)
    x[rng.random((n_t, n)) < 0.05] = np.nan
    dt = np.where(rng.random(n_t) < 0.03, rng.uniform(0.5, 20.0, n_t), 1 / FPS)
    return np.cumsum(dt), x


def test_constant_input_stays_constant(smoother: Smoother) -> None:
    x = np.full((90, 4), 0.42, dtype=np.float32)
    np.testing.assert_array_equal(smoother(frames(90), x), x)


def test_step_converges_monotonically(smoother: Smoother) -> None:
    x = np.zeros((90, 2), dtype=np.float32)
    x[30:] = 1.0
    y = smoother(frames(90), x)
    np.testing.assert_array_equal(y[:30], 0.0)
    assert np.all(np.diff(y, axis=0) >= 0) and np.all(y <= 1.0)
    np.testing.assert_allclose(y[-1], 1.0, atol=1e-3)


def test_noise_is_reduced(filtering: Smoother) -> None:
    rng = np.random.default_rng(1)
    x = (0.5 + rng.normal(0, 0.003, (300, 20))).astype(np.float32)
    y = filtering(frames(300), x)
    assert y[30:].var() < 0.25 * x[30:].var()
    np.testing.assert_allclose(y[30:].mean(), 0.5, atol=1e-3)


def test_fast_motion_is_followed(filtering: Smoother) -> None:
    """A limb sweeping the frame at 1 unit/s lags under one frame's travel."""
    t = frames(60)
    x = t[:, None].astype(np.float32)
    y = filtering(t, x)
    assert 0 < x[-1, 0] - y[-1, 0] < 1 / FPS


@pytest.mark.parametrize("splits", [[1], [7, 8, 9], [0, 32, 33, 120], list(range(1, 200, 13))])
def test_batches_give_bit_identical_results(smoother: Smoother, splits: list[int]) -> None:
    t, x = noisy_stream()
    whole = smoother(t, x)
    smoother.reset()
    parts = [
        smoother(tp, xp) for tp, xp in zip(np.split(t, splits), np.split(x, splits), strict=True)
    ]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_nan_resets_the_feature(smoother: Smoother) -> None:
    x = np.zeros((60, 2), dtype=np.float32)
    x[:, 1] = np.linspace(0, 1, 60)
    x[30:40, 0] = np.nan
    x[40:, 0] = 1.0
    y = smoother(frames(60), x)
    assert np.isnan(y[30:40, 0]).all()
    assert y[40, 0] == 1.0  # taken as is: no smoothing across the gap
    alone = type(smoother)()(frames(60), x[:, 1:])
    np.testing.assert_array_equal(y[:, 1:], alone)  # the other feature is unaffected


def test_empty_batch_leaves_state_untouched(smoother: Smoother) -> None:
    t, x = noisy_stream(40, 3)
    first = smoother(t[:20], x[:20])
    empty = smoother(t[:0], x[:0])
    assert empty.shape == (0, 3) and empty.dtype == np.float32
    rest = smoother(t[20:], x[20:])
    expected = type(smoother)()(t, x)
    np.testing.assert_array_equal(np.concatenate([first, rest]), expected)


def test_single_frame_passes_through(smoother: Smoother) -> None:
    x = np.array([[0.1, np.nan, -3.5]], dtype=np.float32)
    y = smoother(np.array([12.0]), x)
    assert y.shape == (1, 3) and y.dtype == np.float32
    np.testing.assert_array_equal(y, x)


def test_long_gap_takes_the_new_sample_nearly_as_is(smoother: Smoother) -> None:
    t = np.concatenate([frames(30), frames(30, start=60.0)])
    x = np.zeros((60, 1), dtype=np.float32)
    x[30:] = 1.0
    y = smoother(t, x)
    assert y[30, 0] > 0.99


def test_repeated_and_backward_times_give_finite_output(smoother: Smoother) -> None:
    t = np.array([0.0, 1 / 30, 1 / 30, 0.01, 2 / 30, 2 / 30, 3 / 30, -5.0])
    x = np.random.default_rng(2).random((8, 5)).astype(np.float32)
    y = smoother(t, x)
    assert np.isfinite(y).all()


def test_repeated_time_repeats_the_last_output(filtering: Smoother) -> None:
    t = np.array([0.0, 1 / 30, 1 / 30, 0.0, 2 / 30])
    x = np.array([[0.0], [1.0], [5.0], [-5.0], [1.0]], dtype=np.float32)
    y = filtering(t, x)
    assert y[2, 0] == y[1, 0] == y[3, 0]
    expected = type(filtering)()(t[[0, 1, 4]], x[[0, 1, 4]])
    assert y[4, 0] == expected[2, 0]  # the ignored samples left no trace


def test_reset_forgets_the_stream(smoother: Smoother) -> None:
    t, x = noisy_stream(30, 4)
    smoother(t, x)
    smoother.reset()
    np.testing.assert_array_equal(smoother(t, x), type(smoother)()(t, x))


def test_input_is_not_modified_and_dtype_is_float32(shipped: Smoother) -> None:
    t, x = noisy_stream(30, 4)
    x64 = x.astype(np.float64)
    y = shipped(t, x64)
    assert y.dtype == np.float32 and y is not x64
    np.testing.assert_array_equal(x64, x.astype(np.float64))


@pytest.mark.parametrize(
    ("t", "x", "message"),
    [
        (
            np.zeros(3),
            np.zeros(3, np.float32),
            r"x: expected a 2-D \(T, N\) array, got shape \(3,\)",
        ),
        (np.zeros(2), np.zeros((3, 4), np.float32), r"t: expected shape \(3,\).*got \(2,\)"),
        (np.zeros((3, 1)), np.zeros((3, 4), np.float32), r"t: expected shape \(3,\).*got \(3, 1\)"),
        (
            np.array([0.0, np.nan]),
            np.zeros((2, 4), np.float32),
            "t: expected finite times, got nan",
        ),
    ],
)
def test_bad_shapes_are_rejected(shipped: Smoother, t: NDArray, x: NDArray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shipped(t, x)


def test_feature_count_is_fixed_by_the_first_batch(shipped: Smoother) -> None:
    shipped(frames(0), np.zeros((0, 5), np.float32))  # empty: fixes nothing
    shipped(frames(2), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="x: expected 4 features as in earlier batches, got 5"):
        shipped(frames(2, 1.0), np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="x: expected 4 features as in earlier batches, got 5"):
        shipped(frames(0), np.zeros((0, 5), np.float32))
    shipped.reset()
    assert shipped(frames(1), np.zeros((1, 5), np.float32)).shape == (1, 5)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_cutoff": 0.0}, r"min_cutoff: expected a finite number > 0, got 0\.0"),
        ({"min_cutoff": -1}, "min_cutoff: expected a finite number > 0, got -1"),
        ({"beta": -0.5}, r"beta: expected a finite number >= 0, got -0\.5"),
        ({"beta": math.inf}, "beta: expected a finite number >= 0, got inf"),
        ({"d_cutoff": math.nan}, "d_cutoff: expected a finite number > 0, got nan"),
        ({"d_cutoff": "1"}, "d_cutoff: expected a finite number > 0, got '1'"),
    ],
)
def test_one_euro_rejects_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OneEuroSmoother(**params)


def test_one_euro_accepts_numpy_scalars_and_zero_beta() -> None:
    s = OneEuroSmoother(min_cutoff=np.float32(0.5), beta=0, d_cutoff=np.int64(2))
    assert (s.min_cutoff, s.beta, s.d_cutoff) == (0.5, 0.0, 2.0)


def test_make_smoother_builds_by_name() -> None:
    s = make_smoother("one-euro", min_cutoff=2.0, beta=3.0)
    assert isinstance(s, OneEuroSmoother) and (s.min_cutoff, s.beta, s.d_cutoff) == (2.0, 3.0, 1.0)
    assert isinstance(make_smoother("none"), NoSmoother)
    with pytest.raises(
        ValueError, match=r"smoother: expected one of \['none', 'one-euro'\], got 'kalman'"
    ):
        make_smoother("kalman")


def test_beta_zero_is_a_plain_time_aware_low_pass() -> None:
    """With beta = 0 the cutoff is fixed: exponential smoothing with alpha = 1 / (1 + tau / dt)."""
    x = np.zeros((2, 1), dtype=np.float32)
    x[1] = 1.0
    y = OneEuroSmoother(min_cutoff=1.0, beta=0.0)(frames(2), x)
    tau = 1 / (2 * math.pi)
    assert y[1, 0] == pytest.approx(1 / (1 + tau * FPS), rel=1e-6)
