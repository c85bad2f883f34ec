"""Anomaly detectors, tested statistically: false alarms on stationary noise, power on level shifts."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.drift.anomaly import Ewma, RobustZScore, SeriesMonitor
from vigil.errors import InvalidInput

SERIES, STEPS = 200, 1000


def alarm_rate(detector, data: np.ndarray) -> float:
    fired = checks = 0
    for row in data:
        d = detector.update(row)
        fired += int(d.fired.sum())
        checks += int(np.isfinite(d.score).sum())
    return fired / checks


@pytest.mark.parametrize("make", [RobustZScore, Ewma], ids=["robust_z", "ewma"])
def test_false_alarm_rate_on_stationary_noise_is_below_1e_4(make):
    # 3 seeds x 200 series x ~980 scored steps = ~590,000 checks; the bound is 1 per 10,000
    rates = [alarm_rate(make(), np.random.default_rng(seed).normal(0.9, 0.01, (STEPS, SERIES)))
             for seed in range(3)]
    assert max(rates) <= 1e-4, rates


def test_false_alarm_rate_of_the_monitor_is_below_1e_5():
    # both detectors must agree: ~196,000 checks per seed, at most 1 alarm per 100,000
    for seed in range(2):
        data = np.random.default_rng(seed).normal(0.0, 1.0, (STEPS, SERIES))
        monitor = SeriesMonitor()
        alarms = sum(len(monitor.observe(dict(enumerate(row)))) for row in data)
        assert alarms / ((STEPS - 20) * SERIES) <= 1e-5, alarms


def test_binomial_frequencies_do_not_alarm_more_than_gaussian_noise():
    # a class frequency over 500 sampled rows: discrete, near-Gaussian
    data = np.random.default_rng(7).binomial(500, 0.3, (STEPS, SERIES)) / 500
    assert alarm_rate(RobustZScore(), data) <= 1e-4


@pytest.mark.parametrize("make", [RobustZScore, Ewma], ids=["robust_z", "ewma"])
def test_a_level_shift_of_10_sd_is_found_at_once_in_99_percent_of_runs(make):
    found = early = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        series = np.concatenate([rng.normal(0.9, 0.01, 100), rng.normal(1.0, 0.01, 20)])
        det = make()
        fired = [bool(det.update(x).fired[0]) for x in series]
        early += any(fired[:100])
        found += fired[100]
    assert found >= 198, found   # power >= 99 % on the first shifted value
    assert early <= 2, early     # and (almost) no run alarmed before the shift


def test_monitor_reports_the_shifted_series_only():
    rng = np.random.default_rng(3)
    monitor = SeriesMonitor()
    for _ in range(60):
        assert monitor.observe({f"s{k}": rng.normal(k, 0.1) for k in range(50)}) == []
    values = {f"s{k}": rng.normal(k, 0.1) for k in range(50)}
    values["s7"] += 3.0  # 30 sd
    [anomaly] = monitor.observe(values)
    assert anomaly.key == "s7" and anomaly.detectors == ("robust_z", "ewma")
    assert anomaly.score > 6 and abs(anomaly.baseline - 7) < 0.1


def test_flat_series_ignores_float_noise_but_not_a_real_step():
    for make in (RobustZScore, Ewma):
        det = make(min_change=1e-6)
        rng = np.random.default_rng(0)
        fired = [bool(det.update(0.5 + rng.normal(0, 1e-12)).fired[0]) for _ in range(100)]
        assert not any(fired)
        d = det.update(0.51)
        assert d.fired[0] and d.score[0] > 1e6
        flat, tiny = make(), make()
        for _ in range(30):
            assert not flat.update(2.0).fired[0] and not tiny.update(2.0).fired[0]
        assert not tiny.update(2.0 + 1e-9).fired[0]     # below min_change
        d = flat.update(2.5)
        assert d.fired[0] and np.isinf(d.score[0])      # off a flat baseline: +inf


def test_sparse_series_falls_back_to_mean_absolute_deviation():
    # zero most of the time, 1 now and then: MAD is 0, the series is not flat
    det = RobustZScore()
    series = [1.0 if i % 10 == 0 else 0.0 for i in range(200)]
    assert not any(bool(det.update(x).fired[0]) for x in series)


def test_missing_values_neither_score_nor_enter_the_history():
    det = RobustZScore(window=10, min_history=5)
    for x in [1.0, 2.0, 1.5, 1.2, 1.8]:
        det.update(x)
    d = det.update(np.nan)
    assert np.isnan(d.score[0]) and not d.fired[0]
    assert det.update(1.4).baseline[0] == 1.5  # median of the five values


def test_a_bank_equals_independent_detectors_and_grows():
    rng = np.random.default_rng(11)
    data = rng.normal(0, 1, (80, 3))
    data[60, 1] += 20
    bank, singles = RobustZScore(), [RobustZScore() for _ in range(3)]
    ewma_bank, ewma_singles = Ewma(), [Ewma() for _ in range(3)]
    for t, row in enumerate(data):
        width = 3 if t >= 10 else 2  # the third series joins later
        got = bank.update(row[:width])
        got_e = ewma_bank.update(row[:width])
        for k in range(width):
            one = singles[k].update(row[k])
            one_e = ewma_singles[k].update(row[k])
            np.testing.assert_array_equal(got.fired[k], one.fired[0])
            np.testing.assert_allclose(got.score[k], one.score[0], equal_nan=True)
            np.testing.assert_allclose(got_e.score[k], one_e.score[0], equal_nan=True)
    assert bank.n_series == 3


def test_invalid_parameters():
    with pytest.raises(InvalidInput, match="window"):
        RobustZScore(window=2)
    with pytest.raises(InvalidInput, match="min_history"):
        RobustZScore(window=10, min_history=11)
    with pytest.raises(InvalidInput, match="alpha"):
        Ewma(alpha=1.0)
    with pytest.raises(InvalidInput, match="require"):
        SeriesMonitor(require="most")
    with pytest.raises(InvalidInput, match="1-D"):
        RobustZScore().update(np.zeros((2, 2)))


def test_monitor_caps_the_number_of_series():
    monitor = SeriesMonitor(max_series=5)
    monitor.observe({k: 1.0 for k in range(8)})
    assert monitor.n_series == 5 and monitor.dropped_series == 3
