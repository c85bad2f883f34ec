"""check_name / check_field: whatever they accept cannot address anything outside a root."""

from __future__ import annotations

import os
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from vigil.errors import InvalidInput
from vigil.store.names import MAX_NAME_CHARS, check_field, check_name

# Pieces chosen to hit every rule: separators, dot segments, Windows and URL escapes,
# control and invisible characters, look-alikes of '/' and '.', and ordinary word characters.
HOSTILE_PIECES = ["/", ".", "..", "\\", ":", "%", "%2e", "\x00", "\n", "\t", "\r", " ", "~",
                  "\u202e", "\u200b", "\u2028", "\uff0f", "\uff0e", "\u2024", "e\u0301",
                  "a", "B", "7", "_", "-", "@", "+", "=", ",", "é", "模", "ж"]

any_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(HOSTILE_PIECES), max_size=40).map("".join),
)

word_char = st.characters(categories=["L", "Nd"]) | st.sampled_from("_-.@+=,")
segment = st.text(word_char, min_size=1, max_size=20).filter(lambda s: s not in (".", ".."))
valid_names = st.lists(segment, min_size=1, max_size=8).map("/".join).filter(lambda n: len(n) <= MAX_NAME_CHARS)


def assert_safe(name: str) -> None:
    segments = name.split("/")
    assert all(seg not in ("", ".", "..") for seg in segments)
    assert "\\" not in name and ":" not in name and "%" not in name
    assert not any(unicodedata.category(c).startswith("C") for c in name)  # control, format, unassigned
    assert not name.startswith("/") and not name.endswith("/")
    assert len(name) <= MAX_NAME_CHARS
    assert os.path.normpath(os.path.join("/root", name)).startswith("/root/")
    assert os.path.normpath(name) == name  # nothing for normpath to collapse


@given(any_text)
@example("../x")
@example("a/./b")
@example("a\n")
def test_every_accepted_name_stays_under_the_root(name):
    try:
        accepted = check_name(name, "test")
    except InvalidInput:
        return
    assert accepted == name
    assert_safe(name)


@given(valid_names)
def test_names_of_word_segments_are_accepted(name):
    assert check_name(name, "test") == name
    assert_safe(name)


HOSTILE_NAMES = [
    "", ".", "..", "../x", "x/..", "a/../../x", "a/./b", "./a", "/abs", "/", "a/", "a//b",
    "a\\b", "..\\x", "C:x", "C:\\x", "%2e%2e/x", "%2f", "a\x00b", "a\nb", "a\n", "\ta",
    "a\u202eb", "a\u200bb", "~/x", " a", "a ", "a/ b", "x" * (MAX_NAME_CHARS + 1),
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_hostile_names_are_rejected_with_the_argument_and_value(name):
    with pytest.raises(InvalidInput) as info:
        check_name(name, "log_artifact", "artifact_name")
    message = str(info.value)
    assert message.startswith("log_artifact: artifact_name must be")
    assert repr(name)[:60] in message  # long values are shortened, never omitted


@pytest.mark.parametrize("value", [None, 3, b"a", ["a"], ("a",)], ids=repr)
def test_non_strings_are_rejected(value):
    with pytest.raises(InvalidInput, match="experiment: name must be"):
        check_name(value, "experiment")


def test_length_limit_is_inclusive():
    assert check_name("x" * MAX_NAME_CHARS, "t") == "x" * MAX_NAME_CHARS
    with pytest.raises(InvalidInput):
        check_name("x" * (MAX_NAME_CHARS + 1), "t")


@pytest.mark.parametrize("name", ["modèle/été", "模型/版本1", "данные/v2", "α-β_γ/δ.ε", "run 1/a=b,c@d+e",
                                  "...", "a..b", ".hidden", "v1.0"])
def test_unicode_and_punctuated_names_are_accepted(name):
    assert check_name(name, "test") == name


# -- fields ---------------------------------------------------------------------------------------

@given(any_text | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,70}", fullmatch=True))
@example("model\n")
def test_every_accepted_field_is_a_short_ascii_identifier(name):
    try:
        accepted = check_field(name, "test")
    except InvalidInput:
        return
    assert accepted == name
    assert name.isascii() and name.isidentifier() and len(name) <= 64
    assert not any(unicodedata.category(c).startswith("C") for c in name)


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,63}", fullmatch=True))
def test_identifiers_are_accepted_as_fields(name):
    assert check_field(name, "test") == name


@pytest.mark.parametrize("name", ["", "1a", "a-b", "a b", "a.b", "model\n", "é", "a" * 65,
                                  "x;drop table t", None, 3], ids=repr)
def test_bad_fields_are_rejected_with_the_argument_and_value(name):
    with pytest.raises(InvalidInput) as info:
        check_field(name, "log_extra", "column")
    message = str(info.value)
    assert message.startswith("log_extra: column must be")
    assert repr(name)[:60] in message
