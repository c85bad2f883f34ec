"""Rotating JSON Lines export (vigil.export.jsonl): valid lines, rotation by time and size."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.server.factory import window
from vigil.errors import InvalidInput
from vigil.export.jsonl import (
    FIELDS,
    RotatingJsonlWriter,
    encode_records,
    encode_window,
    read_records,
    window_records,
)


def test_one_record_per_point_with_every_field(tmp_path):
    w = window("a", 0)
    writer = RotatingJsonlWriter(tmp_path)
    writer.write(window_records(w))
    writer.close()
    lines = writer.files()[0].read_text().splitlines()
    assert len(lines) == len(w["points"])
    records = [json.loads(line) for line in lines]
    assert all(list(r) == list(FIELDS) for r in records)
    assert records[0] == {"t": w["end"], "agent_id": "a", "metric": "rows_seen", "stat": None, "class": None,
                          "feature": None, "category": None, "value": 100.0}


def test_rotation_by_time(tmp_path):
    now = [7200.0]
    writer = RotatingJsonlWriter(tmp_path, rotate_s=3600, clock=lambda: now[0])
    rec = {"t": 1.0, "agent_id": "a", "metric": "m", "value": 1.0}
    writer.write([rec])
    now[0] = 10_799.0           # same hour
    writer.write([rec])
    now[0] = 10_800.0           # next hour: new file
    writer.write([rec, rec])
    writer.close()
    files = writer.files()
    assert [sum(1 for _ in read_records(f)) for f in files] == [2, 2]
    assert "19700101T020000Z" in files[0].name and "19700101T030000Z" in files[1].name


def test_rotation_by_size_keeps_lines_whole(tmp_path):
    writer = RotatingJsonlWriter(tmp_path, max_bytes=2048)
    records = [{"t": float(i), "agent_id": "a", "metric": "m", "feature": "x" * 50, "value": float(i)}
               for i in range(200)]
    for i in range(0, 200, 7):
        writer.write(records[i:i + 7])
    writer.write(records[:0])
    writer.close()
    files = writer.files()
    assert len(files) > 5
    assert all(f.stat().st_size <= 2048 for f in files)
    assert [r["value"] for r in read_records(tmp_path)] == [float(i) for i in range(0, 200, 7)
                                                            for i in range(i, min(i + 7, 200))]


def test_a_cut_last_line_is_skipped_other_bad_lines_raise(tmp_path):
    path = tmp_path / "vigil-metrics-x.jsonl"
    path.write_text('{"t": 1, "value": 1}\n{"t": 2, "val')
    assert [r["t"] for r in read_records(path)] == [1]
    path.write_text('{"t": 1}\nnot json\n{"t": 3}\n')
    with pytest.raises(InvalidInput, match=":2 is not valid JSON"):
        list(read_records(path))


finite = st.floats(allow_nan=False, allow_infinity=False)
record = st.fixed_dictionaries({
    "t": finite, "agent_id": st.text(min_size=1), "metric": st.text(min_size=1),
    "stat": st.none() | st.text(), "class": st.none() | st.text(), "feature": st.none() | st.text(),
    "category": st.none() | st.text(), "value": st.floats(),
})


@settings(max_examples=50, deadline=None)
@given(st.lists(record, max_size=20))
def test_round_trip_any_text_and_non_finite_values(tmp_path_factory, records):
    folder = tmp_path_factory.mktemp("jsonl")
    writer = RotatingJsonlWriter(folder, max_bytes=4096)
    writer.write(records)
    writer.close()
    back = list(read_records(folder)) if records else []
    assert len(back) == len(records)
    for a, b in zip(records, back):
        expected = dict(a, value=a["value"] if math.isfinite(a["value"]) else None)
        assert b == expected


label = st.none() | st.text(max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "metric": st.sampled_from(["pred1", "accuracy"]), "stat": label, "class": label, "feature": label,
    "category": label, "value": st.floats() | st.integers(-3, 3)}), max_size=5),
    st.floats(), st.text(min_size=1, max_size=4))
def test_encode_window_is_encode_records_of_window_records(points, end, agent):
    w = {"agent_id": agent, "end": end, "points": points}
    assert encode_window(w) == encode_records(window_records(w))
    assert encode_window(w) == encode_window(w)  # and again, from the cache


def test_write_encoded_counts_records_and_rotates(tmp_path):
    writer = RotatingJsonlWriter(tmp_path, max_bytes=1024)
    data = encode_window(window("a", 0))
    assert writer.write_encoded(data * 3, 3 * len(window("a", 0)["points"])) == 3 * len(window("a", 0)["points"])
    writer.close()
    assert len(writer.files()) > 1 and sum(1 for _ in read_records(tmp_path)) == writer.records_written
