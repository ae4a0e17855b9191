"""Statistics on synthetic samples: exact where the answer is known, robust where it is random."""

import types

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import pairs, timing
from helpers.plots import warmup_figure
from helpers.timing import (
    RaceResult,
    Warmup,
    bootstrap_ratio_ci,
    changepoints,
    classify_warmup,
    format_seconds,
    noise_sigma,
    samples_frame,
)

KINDS = {"flat", "warm-up", "slow-down", "no steady state"}


def noisy(levels, seed=0, sigma=0.02):
    """A series of per-run seconds: ``levels`` (one per sample) times lognormal noise."""
    levels = np.asarray(levels, dtype=float)
    return levels * np.random.default_rng(seed).lognormal(0.0, sigma, levels.size)


def steps(*parts):
    """``steps((30, 5e-3), (170, 1e-3))``: 30 samples at 5 ms then 170 at 1 ms."""
    return np.concatenate([np.full(n, level) for n, level in parts])


# ----------------------------------------------------------------------------- changepoints


@pytest.mark.parametrize("seed", range(5))
def test_flat_noise_has_no_changepoints(seed):
    assert changepoints(noisy(np.full(200, 1e-3), seed)) == []


@pytest.mark.parametrize("seed", range(5))
def test_changepoints_are_located_within_two_samples(seed):
    x = noisy(steps((60, 2e-3), (80, 1e-3), (60, 1.5e-3)), seed)
    found = changepoints(x)
    assert len(found) == 2
    assert abs(found[0] - 60) <= 2 and abs(found[1] - 140) <= 2


def test_isolated_spikes_are_not_changepoints():
    x = noisy(np.full(200, 1e-3), seed=3)
    x[[20, 21, 90, 150, 151, 152]] *= 30  # GC pauses, another program
    assert changepoints(x) == []


def test_one_slow_first_sample_is_kept():
    x = noisy(np.full(100, 1e-4), seed=4)
    x[0] = 5e-3  # a JIT's first run: interpret, trace, compile
    assert changepoints(x) == [1]


def test_constant_series_has_no_changepoints_and_no_noise():
    assert noise_sigma(np.full(50, 3.0)) == 0.0
    assert changepoints(np.full(50, 3.0)) == []


def test_noise_sigma_ignores_level_shifts():
    y = np.log(noisy(steps((100, 1.0), (100, 10.0)), seed=1, sigma=0.05))
    assert noise_sigma(y) == pytest.approx(0.05, rel=0.2)


# ----------------------------------------------------------------------------- classification


@pytest.mark.parametrize("seed", range(5))
def test_flat(seed):
    w = classify_warmup(noisy(np.full(200, 1e-3), seed))
    assert w.kind == "flat"
    assert w.steady_start == 0
    assert w.warmup_seconds == 0.0
    assert w.count == w.n == 200
    assert w.median == pytest.approx(1e-3, rel=0.01)
    assert w.warnings == ()


@pytest.mark.parametrize("seed", range(5))
def test_warm_up(seed):
    w = classify_warmup(noisy(steps((30, 5e-3), (170, 1e-3)), seed))
    assert w.kind == "warm-up"
    assert abs(w.steady_start - 30) <= 2
    assert w.count == 200 - w.steady_start
    assert w.median == pytest.approx(1e-3, rel=0.02)


@pytest.mark.parametrize("seed", range(5))
def test_slow_down(seed):
    w = classify_warmup(noisy(steps((100, 1e-3), (100, 2e-3)), seed))
    assert w.kind == "slow-down"
    assert abs(w.steady_start - 100) <= 2
    assert w.median == pytest.approx(2e-3, rel=0.02)


@pytest.mark.parametrize("seed", range(5))
def test_keeps_changing_has_no_steady_state(seed):
    # a new level every 25 samples, the last one starting at 175 of 200
    levels = steps(*[(25, 1e-3 * 1.5 ** (i % 3)) for i in range(8)])
    w = classify_warmup(noisy(levels, seed))
    assert w.kind == "no steady state"
    assert w.steady_start is None and w.warmup_seconds is None
    assert any("no steady state" in msg for msg in w.warnings)


def test_too_few_samples_has_no_steady_state():
    w = classify_warmup([3e-3, 1e-3, 1e-3, 1e-3])
    assert w.kind == "no steady state"
    assert w.steady_start is None
    assert any("only 4 samples" in msg for msg in w.warnings)


def test_a_slower_stretch_that_returns_is_a_hiccup_not_a_new_state():
    x = noisy(steps((80, 1e-3), (30, 1.6e-3), (90, 1e-3)), seed=5)  # another program ran
    w = classify_warmup(x)
    assert len(w.segments) == 3  # the stretch is seen ...
    assert w.kind == "flat" and w.steady_start == 0  # ... but does not end the steady state
    assert any("1 slower stretch inside the steady state" in msg for msg in w.warnings)

    late = noisy(steps((20, 5e-3), (150, 1e-3), (20, 1.6e-3), (10, 1e-3)), seed=6)
    w = classify_warmup(late)
    assert w.kind == "warm-up" and abs(w.steady_start - 20) <= 2


def test_a_faster_stretch_is_not_absorbed():
    x = noisy(steps((60, 1e-3), (60, 0.5e-3), (80, 1e-3)), seed=7)
    w = classify_warmup(x)
    assert w.kind == "slow-down" and abs(w.steady_start - 120) <= 2


def test_equivalent_segments_are_merged():
    # a 4% step is "the same level" with the default 10% tolerance
    x = noisy(steps((100, 1.00e-3), (100, 1.04e-3)), seed=2, sigma=0.005)
    assert changepoints(x)  # the step is real ...
    assert classify_warmup(x).kind == "flat"  # ... but not worth a class
    assert classify_warmup(x, tolerance=0.01).kind == "slow-down"


def test_statistics_are_exact_on_a_known_series():
    # 4 warm-up samples of 8 runs at 1 s, then 16 steady samples of 8 runs
    steady = [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 3.0, 3.0]
    x = [16.0] * 4 + steady
    w = classify_warmup(x, runs=8)
    assert w.kind == "warm-up"
    assert w.steady_start == 4
    assert w.warmup_seconds == 4 * 16.0 * 8
    assert w.median == 2.25
    assert w.mean == np.mean(steady)
    assert w.mad == 0.25
    assert w.iqr == 0.5
    assert w.rel_spread == 0.25 / 2.25
    assert w.count == 16 and w.n == 20
    assert any("too noisy" in msg for msg in w.warnings)


def test_warmup_seconds_use_each_samples_runs():
    x = [10.0, 10.0, 10.0] + [1.0] * 17
    runs = [1, 2, 4] + [8] * 17
    w = classify_warmup(x, runs)
    assert w.steady_start == 3
    assert w.warmup_seconds == 10.0 * (1 + 2 + 4)


def test_mean_far_above_median_is_warned_about():
    x = np.tile([1.0, 1.0, 1.0, 1.0, 3.0], 40)  # a periodic pause the median hides
    w = classify_warmup(x)
    assert w.median == 1.0
    assert any("mean is 40% above the median" in msg for msg in w.warnings)


@pytest.mark.parametrize("bad", [[], [1.0, 0.0, 1.0], [1.0, float("nan")], [-1.0]])
def test_bad_series_are_refused(bad):
    with pytest.raises(ValueError):
        classify_warmup(bad)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=1e-9, max_value=1e3, allow_nan=False,
                          allow_infinity=False), min_size=1, max_size=300))
def test_classification_never_crashes(xs):
    w = classify_warmup(xs)
    assert w.kind in KINDS
    assert w.n == len(xs)
    assert 1 <= w.count <= w.n
    assert min(xs) <= w.median <= max(xs)
    assert w.mad >= 0 and w.iqr >= 0
    assert w.segments[0].start == 0 and w.segments[-1].stop == len(xs)
    if w.steady_start is None:
        assert w.kind == "no steady state" and w.warmup_seconds is None
    else:
        assert 0 <= w.steady_start < w.n and w.warmup_seconds >= 0


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_contains_true_ratio_and_is_deterministic():
    rng = np.random.default_rng(42)
    a = rng.lognormal(np.log(2e-3), 0.1, 200)  # true median 2 ms
    b = rng.lognormal(np.log(1e-4), 0.1, 150)  # true median 0.1 ms: true ratio 20
    r = bootstrap_ratio_ci(a, b)
    assert r.lo <= 20 <= r.hi
    assert r.lo <= r.ratio <= r.hi
    assert r.ratio == np.median(a) / np.median(b)
    assert r.hi / r.lo < 1.2
    assert bootstrap_ratio_ci(a, b) == r
    assert bootstrap_ratio_ci(a, b, seed=1) != r


def test_bootstrap_ci_is_ordered_even_for_tiny_samples():
    r = bootstrap_ratio_ci([1.0, 5.0], [2.0])
    assert r.lo <= r.ratio <= r.hi


def test_bootstrap_refuses_empty_samples():
    with pytest.raises(ValueError):
        bootstrap_ratio_ci([], [1.0])


# ----------------------------------------------------------------------------- tables


def fake_result(samples, number, implementation, jit=False):
    return {"samples": list(samples), "runs": [number] * len(samples), "number": number,
            "implementation": implementation, "version": "3.9.16",
            "pypy_version": "7.3.11" if implementation == "PyPy" else None, "jit": jit}


def two_results():
    return {
        "cpython": fake_result(noisy(np.full(60, 1e-3), 1), 10, "CPython"),
        "pypy": fake_result(noisy(steps((10, 1e-3), (50, 1e-4)), 2), 100, "PyPy", jit=True),
    }


def test_samples_frame_structure():
    df, summary = samples_frame(two_results(), startup={"cpython": 0.02, "pypy": 0.05})
    assert list(df.columns) == ["interpreter", "sample", "seconds", "runs"]
    assert len(df) == 120
    assert df.groupby("interpreter")["sample"].apply(list)["pypy"] == list(range(60))
    assert list(summary.index) == ["cpython", "pypy"]
    for column in ["startup_s", "warmup", "warmup_samples", "warmup_s", "steady_median_s",
                   "steady_mean_s", "mad_s", "rel_spread", "n_steady", "n_samples", "number"]:
        assert column in summary.columns
    assert summary.loc["pypy", "warmup"] == "warm-up"
    assert summary.loc["cpython", "warmup"] == "flat"
    assert summary.loc["pypy", "startup_s"] == 0.05
    assert summary.loc["pypy", "number"] == 100


def test_samples_frame_accepts_plain_lists():
    df, summary = samples_frame({"x": [1.0] * 12})
    assert df["runs"].tolist() == [1] * 12
    assert summary.loc["x", "warmup"] == "flat"
    assert np.isnan(summary.loc["x", "startup_s"])


@pytest.mark.parametrize("seconds, text", [
    (3.52e-5, "35.2 µs"), (1.0, "1.00 s"), (0.0123, "12.3 ms"), (7e-9, "7.00 ns"),
    (123.4, "123 s"), (0.99996, "1.00 s"), (9.9996e-4, "1.00 ms"), (4321.0, "4321 s"),
    (0.0, "0.00 ns"), (None, "–"),
])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


# ----------------------------------------------------------------------------- result, plot


def built_race():
    results = two_results()
    procs = {k: types.SimpleNamespace(stdout="", dropped={"stdout": 0, "stderr": 0})
             for k in results}
    warmups = {k: classify_warmup(r["samples"], r["runs"]) for k, r in results.items()}
    return RaceResult.build("stmt", results, procs, warmups, {"cpython": 0.02, "pypy": 0.05})


def test_race_result_text_uses_measured_numbers():
    r = built_race()
    assert r.speedup == pytest.approx(10, rel=0.05)
    assert r.ci[0] <= r.speedup <= r.ci[1]
    text = str(r)
    assert text.startswith(f"PyPy is {r.speedup:#.3g}× faster than CPython (95% CI ")
    assert "within one process each" in text
    assert "steady state" in text
    assert format_seconds(r.warmups["pypy"].median) in text
    assert isinstance(r.warmups["pypy"], Warmup)


def test_a_race_whose_interval_holds_one_says_no_clear_difference():
    r = built_race()
    r.speedup, r.ci = 1.08, (0.49, 1.42)
    assert r.headline().startswith("No clear difference between PyPy and CPython: PyPy 1.08× "
                                   "faster (95% CI 0.490–1.42×")
    r.speedup, r.ci = 0.9, (0.7, 1.2)
    assert r.headline().startswith("No clear difference between PyPy and CPython: PyPy 1.11× "
                                   "slower (95% CI 0.833–1.43×")


def test_race_result_html_has_table_png_and_warnings():
    r = built_race()
    r.warnings.append("a <warning>")
    html = r._repr_html_()
    assert "<table" in html and "data:image/png;base64," in html
    assert "a &lt;warning&gt;" in html


def test_printing_is_warned_about():
    results = two_results()
    procs = {"cpython": types.SimpleNamespace(stdout="hi\nhi\n", dropped={"stdout": 0}),
             "pypy": types.SimpleNamespace(stdout="", dropped={"stdout": 10})}
    warmups = {k: classify_warmup(r["samples"]) for k, r in results.items()}
    r = RaceResult.build("print('hi')", results, procs, warmups, {})
    assert any("printed (2 lines)" in w for w in r.warnings)
    assert any("10 bytes of output were dropped" in w for w in r.warnings)
    assert r.stdout["cpython"] == "hi\nhi\n"


def test_warmup_figure_lines_scale_and_no_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    df, summary = samples_frame(two_results())
    fig = warmup_figure(df, summary)
    ax = fig.axes[0]
    series = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert [ln.get_label() for ln in series] == ["cpython: flat",
                                                "pypy: warm-up (steady from sample 10)"]
    assert ax.get_yscale() == "log"  # 10× apart
    assert plt.get_fignums() == before  # nothing left open for pyplot to show

    close = {"a": [1e-3] * 20, "b": [1.1e-3] * 20}
    df, summary = samples_frame(close)
    assert warmup_figure(df, summary).axes[0].get_yscale() == "linear"


def test_summary_survives_no_steady_state_in_the_figure():
    df, summary = samples_frame({"a": [1.0, 2.0, 3.0]})
    assert pd.isna(summary.loc["a", "warmup_samples"])
    warmup_figure(df, summary)


# ----------------------------------------------------------------------------- processes

def test_process_ratio_ci_covers_between_process_spread():
    rng = np.random.default_rng(1)
    # Each process has its own level (between-process spread ~10%) and tight noise inside.
    levels_a = [1.0, 1.1, 0.9, 1.05, 0.95]
    a = [lvl * (1 + 0.005 * rng.standard_normal(200)) for lvl in levels_a]
    b = [0.1 * (1 + 0.005 * rng.standard_normal(200)) for _ in range(5)]
    within = timing.bootstrap_ratio_ci(a[0], b[0])
    across = timing.process_ratio_ci(a, b)
    assert across.lo <= across.ratio <= across.hi
    assert across.ratio == pytest.approx(10.0, rel=0.02)  # median of the five levels / 0.1
    assert (across.hi - across.lo) > 5 * (within.hi - within.lo)
    assert timing.process_ratio_ci(a, b) == across  # seeded: deterministic


def test_process_ratio_ci_rejects_empty_processes():
    with pytest.raises(ValueError):
        timing.process_ratio_ci([[1.0]], [[]])
    with pytest.raises(ValueError):
        timing.process_ratio_ci([], [[1.0]])


def test_race_rejects_zero_processes():
    with pytest.raises(ValueError, match="processes"):
        timing.race("pass", processes=0)


@pytest.mark.pypy
def test_race_across_processes_reports_each_process():
    r = timing.race("sum(range(200))", budget=0.15, samples=40, processes=2, startup=False)
    assert set(r.process_medians) == {"cpython", "pypy"}
    assert all(len(m) == 2 for m in r.process_medians.values())
    assert r.n_processes == 2
    lo, hi = r.ci
    assert lo <= r.speedup <= hi
    text = str(r)
    assert "across 2 processes each" in text and "medians of its 2 processes" in text


# ----------------------------------------------------------------------------- pairs

def built_pair(slow_levels=(1e-3, 1e-3), fast_levels=(1e-4, 1e-3)):
    """A PairResult from fake harness results: (cpython, pypy) levels per variant."""
    races = {}
    for name, levels in (("+=", slow_levels), ("join", fast_levels)):
        results = {"cpython": fake_result(noisy(np.full(60, levels[0]), 1), 10, "CPython"),
                   "pypy": fake_result(noisy(np.full(60, levels[1]), 2), 10, "PyPy", jit=True)}
        procs = {k: types.SimpleNamespace(stdout="", dropped={}) for k in results}
        warmups = {k: classify_warmup(r["samples"], r["runs"]) for k, r in results.items()}
        races[name] = RaceResult.build(name, results, procs, warmups, {})
    return pairs.PairResult.build(("+=", "join"), races, order=[("cpython", "+=")])


def test_pair_order_alternates_which_variant_goes_first():
    assert pairs.pair_order(["cpython", "pypy"], ("a", "b")) == [
        ("cpython", "a"), ("cpython", "b"), ("pypy", "b"), ("pypy", "a")]


def test_pair_result_ratios_verdicts_and_text():
    r = built_pair()
    assert r.ratio("cpython").ratio == pytest.approx(10, rel=0.05)
    assert r.ratio("PyPy").ratio == pytest.approx(1, rel=0.05)
    assert r.verdict("cpython") == "faster"
    lo, hi = r.ratios["pypy"].lo, r.ratios["pypy"].hi
    assert r.verdict("pypy") == ("no clear difference" if lo <= 1 <= hi else
                                 ("faster" if r.ratios["pypy"].ratio > 1 else "slower"))
    text = str(r)
    assert text.startswith(f"On CPython, join is {r.ratios['cpython'].ratio:#.3g}× faster than +=")
    assert "95% CI" in text and "on PyPy" in text
    assert list(r.summary.index) == ["cpython", "pypy"]
    for column in ["slow_median_s", "fast_median_s", "ratio", "ci_lo", "ci_hi",
                   "slow_warmup", "fast_warmup"]:
        assert column in r.summary.columns
    with pytest.raises(KeyError, match="no interpreter"):
        r.ratio("jython")


def test_pair_result_slower_sentence_inverts_ratio_and_interval():
    r = built_pair(slow_levels=(1e-4, 1e-4), fast_levels=(1e-3, 1e-4))
    assert r.verdict("cpython") == "slower"
    x = r.ratios["cpython"]
    assert f"join is {1 / x.ratio:#.3g}× slower than +=" in r.sentence("cpython")


def test_pair_result_html_table_figure_and_warnings():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    r = built_pair()
    r.warnings.append("a <warning>")
    page = r._repr_html_()
    assert "<table" in page and "data:image/png;base64," in page
    assert "a &lt;warning&gt;" in page
    table = r.display_table()
    assert list(table.index) == ["CPython", "PyPy"]
    assert "+= ÷ join" in table.columns
    assert len(r.figure.axes) == 2
    assert plt.get_fignums() == before


def test_pair_warnings_name_the_variant():
    r = built_pair()
    races = dict(r.races)
    races["join"].warnings.append("PyPy: something odd")
    again = pairs.PairResult.build(("+=", "join"), races)
    assert "join on PyPy: something odd" in again.warnings


def test_pairs_figure_one_row_per_pitfall():
    from helpers.plots import pairs_figure

    table = pd.DataFrame({"PyPy ratio": [10.0, 1.0], "PyPy lo": [9.0, 0.9], "PyPy hi": [11.0, 1.1],
                          "CPython ratio": [2.0, 1.2], "CPython lo": [1.8, 1.1],
                          "CPython hi": [2.2, 1.3]}, index=["a", "b"])
    ax = pairs_figure(table).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.get_xscale() == "log"


@pytest.mark.parametrize("kwargs, match", [
    (dict(slow="", fast="x"), "slow must be"),
    (dict(slow="x", fast=None), "fast must be"),
    (dict(slow="x", fast="y", setup=("a",)), "setup must be"),
    (dict(slow="x", fast="y", setup=3), "setup must be"),
    (dict(slow="x", fast="y", names=("a", "a")), "names must be"),
    (dict(slow="x", fast="y", interpreters=()), "interpreters must be"),
    (dict(slow="x", fast="y", interpreters="pypy"), "interpreters must be"),
])
def test_race_pair_refuses_bad_input_before_running_anything(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        pairs.race_pair(**kwargs)


@pytest.mark.pypy
def test_race_pair_real_and_evidence_line():
    import helpers

    r = pairs.race_pair("s = ''\nfor w in words:\n    s += w", "s = ''.join(words)",
                         "words = [str(i) for i in range(300)]", names=("+=", "join"),
                         budget=0.1, samples=30)
    assert set(r.ratios) == {"cpython", "pypy"}
    assert [k for k, _ in r.order] == ["cpython", "cpython", "pypy", "pypy"]
    for x in r.ratios.values():
        assert x.lo <= x.ratio <= x.hi
    assert set(r.races) == {"+=", "join"}
    t = helpers.trace("t = 0\nfor i in range(5000):\n    t += i * 2\n")
    assert t.hot_loop is not None and t.hot_loop.body_counts.ops > 0
    assert t.hot_loop.body_counts.ops <= t.hot_loop.counts.ops
    line = t.evidence()
    assert "compiled" in line and "hottest loop" in line and f"{t.hot_loop.runs:,}" in line
    assert isinstance(t.aborts, dict)
    empty = helpers.trace("x = 1\n")
    assert empty.hot_loop is None and "no loop was compiled" in empty.evidence()


# ----------------------------------------------------------------------------- until steady


def fake_measure(curves, calls=None, seed=0):
    """A stand-in for the harness: ``curves[key](i)`` is sample i's seconds per run; a round
    stops at its samples or when its budget is spent, as harness.py does."""
    def measure(stmt, setup, spec, *, samples, budget, number, timeout, env, jit):
        if calls is not None:
            calls.append({"key": spec, "samples": samples, "budget": budget,
                          "number": number, "timeout": timeout})
        rng = np.random.default_rng(seed + len(calls or ()))
        xs, spent = [], 0.0
        while len(xs) < samples and (not xs or spent < budget):
            x = curves[spec](len(xs)) * rng.lognormal(0.0, 0.01)
            xs.append(x)
            spent += x * number
        result = fake_result(xs, number, "PyPy" if spec == "pypy" else "CPython",
                             jit=spec == "pypy")
        result["stopped_by"] = "samples" if len(xs) >= samples else "budget"
        proc = types.SimpleNamespace(wall=spent + 0.05, stdout="",
                                     dropped={"stdout": 0, "stderr": 0})
        return result, proc
    return measure


def flat(level):
    return lambda i: level


def warming(slow, fast, samples):
    """Falls from ``slow`` to ``fast`` in steps over the first ``samples`` samples."""
    return lambda i: fast if i >= samples else slow - (slow - fast) * i / samples


def test_runs_per_sample_repeats_only_short_runs():
    assert timing.runs_per_sample(1.0) == 1 and timing.runs_per_sample(0.05) == 1
    assert timing.runs_per_sample(0.01) == 5 and timing.runs_per_sample(0.03) == 2
    assert timing.runs_per_sample(1e-9) == timing.MAX_RUNS_PER_SAMPLE
    for unknown in (0.0, -0.1, float("nan")):
        assert timing.runs_per_sample(unknown) == 1


def test_first_round_aims_at_seconds_within_bounds():
    assert timing.first_round_samples(1.0) == timing.ROUND_SAMPLES  # 5 s would be 5 samples
    assert timing.first_round_samples(0.1) == 50
    assert timing.first_round_samples(1e-4) == timing.MAX_ROUND_SAMPLES
    assert timing.first_round_samples(float("nan")) == timing.ROUND_SAMPLES


def test_samples_needed_follows_the_classifiers_rules():
    from helpers.stats import samples_needed

    late = classify_warmup(noisy(steps((10, 2.0), (3, 1.0))))  # changed at 10 of 13
    assert late.kind == "no steady state" and late.window_start == 10
    n = samples_needed(late)
    assert n == 20  # 10 more after the change; 10 <= 0.75 * 20
    more = classify_warmup(noisy(steps((10, 2.0), (n - 10, 1.0))))
    assert more.steady_start == 10 and samples_needed(more) <= more.n  # now it has enough
    # steady by the classifier's rule, but only 3 samples after the change: not enough
    short = classify_warmup(noisy(steps((9, 2.0), (3, 1.0))))
    assert short.steady_start == 9 and samples_needed(short) == 19 > short.n
    few = classify_warmup(noisy(np.full(5, 1.0)))
    assert samples_needed(few) == 10
    assert samples_needed(classify_warmup(noisy(np.full(30, 1.0)))) == 10


def test_seconds_needed_replays_the_warm_up_then_the_steady_level():
    x = [3.0, 2.0, 1.0, 1.0]
    w = classify_warmup(x, min_samples=2)
    w = Warmup(**{**w.__dict__, "window_start": 2, "median": 1.0})
    assert timing.seconds_needed(x, 2, w, 10) == pytest.approx((3 + 2) * 2 + 8 * 1.0 * 2)
    assert timing.suggest_budget(12.1) == 15 and timing.suggest_budget(61) == 70
    assert timing.suggest_budget(0.2) == 5


def test_both_steady_in_the_first_round():
    calls = []
    curves = {"cpython": flat(0.5), "pypy": warming(0.5, 0.1, 3)}
    r = timing.race_until_steady("run()", startup=False, first_run={"cpython": 0.5, "pypy": 0.6},
                                 measure=fake_measure(curves, calls))
    c = r.convergence
    assert [len(c.rounds[k]) for k in ("cpython", "pypy")] == [1, 1]
    assert c.steady("cpython") and c.steady("pypy") and c.suggestion("pypy") is None
    assert [call["samples"] for call in calls] == [timing.ROUND_SAMPLES] * 2
    assert all(call["number"] == 1 for call in calls)
    assert calls[0]["budget"] == timing.BUDGET
    assert calls[0]["timeout"] == timing.BUDGET + 60.0  # its budget plus the run's timeout
    assert r.speedup == pytest.approx(5, rel=0.05)
    assert f"1 round of {timing.ROUND_SAMPLES} samples" in str(r) and "no steady state" not in r.headline()


def test_a_long_warm_up_gets_a_second_bigger_round():
    calls = []
    curves = {"cpython": flat(0.5), "pypy": warming(1.0, 0.1, 14)}
    r = timing.race_until_steady("run()", startup=False, first_run=0.5,
                                 measure=fake_measure(curves, calls))
    c = r.convergence
    assert len(c.rounds["pypy"]) == 2 and c.steady("pypy")
    assert c.rounds["pypy"][0].samples == timing.ROUND_SAMPLES
    second = calls[-1]["samples"]
    assert second > timing.ROUND_SAMPLES and calls[-1]["key"] == "pypy"
    assert r.warmups["pypy"].steady_start is not None  # the series shown is the last round's
    assert len(r.results["pypy"]["samples"]) == second
    assert f"2 rounds of {timing.ROUND_SAMPLES}, then " in c.describe("pypy")
    assert calls[-1]["budget"] == pytest.approx(timing.BUDGET - c.rounds["pypy"][0].seconds)


def test_the_cap_stops_the_race_and_says_what_budget_would_do():
    curves = {"cpython": flat(0.5), "pypy": warming(1.0, 0.1, 14)}
    r = timing.race_until_steady("run()", startup=False, first_run=0.5, budget=8.0,
                                 measure=fake_measure(curves))
    c = r.convergence
    assert c.steady("cpython") and not c.steady("pypy")
    assert len(c.rounds["pypy"]) == 1  # the round it would need does not fit in 8 s
    assert c.spent("pypy") <= 8.0 + 1.0 + 0.05  # the budget, one last sample, start-up
    ask = c.suggestion("pypy")
    assert ask > 8 and ask >= c.spent("pypy") + c.needed["pypy"]
    text = r.headline()
    assert "no steady state within the budget of 8 s" in text and f"budget={ask}" in text
    assert f"pass budget={ask}" in c.describe("pypy")


def test_short_runs_are_repeated_within_a_sample():
    calls = []
    curves = {"cpython": flat(0.004), "pypy": flat(0.001)}
    r = timing.race_until_steady("run()", startup=False, budget=5.0,
                                 first_run={"cpython": 0.005, "pypy": 0.02},
                                 measure=fake_measure(curves, calls))
    assert [call["number"] for call in calls] == [10, 3]
    assert r.convergence.number == {"cpython": 10, "pypy": 3}
    assert r.summary.loc["cpython", "number"] == 10


def test_race_until_steady_refuses_a_bad_budget():
    with pytest.raises(ValueError, match="budget"):
        timing.race_until_steady("pass", budget=0)
