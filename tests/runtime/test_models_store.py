"""``om.models`` formats and links (vigil/store/models.py)."""

from __future__ import annotations

import json

import pytest

import vigil as om
from vigil.errors import InvalidInput, NotFound
from vigil.store.models import format_names, register_format, unregister_format


class JsonTable:
    """A model format for plain dict "models", as a third party would add one."""

    name = "json-table"

    def supports(self, obj):
        return isinstance(obj, dict) and obj.get("kind") == "table"

    def dump(self, obj):
        return json.dumps(obj).encode()

    def load(self, data, trusted):
        return json.loads(data)


@pytest.fixture
def table_format():
    register_format(JsonTable())
    yield
    unregister_format("json-table")


def test_a_registered_format_stores_and_loads_its_models(table_format):
    assert format_names() == ["json-table", "skops"]
    meta = om.models.put({"kind": "table", "w": [1, 2]}, "tab")
    assert meta["format"] == "json-table" and meta["key"].endswith(".json-table")
    assert om.models.get("tab") == {"kind": "table", "w": [1, 2]}
    with pytest.raises(InvalidInput, match="json-table"):
        om.models.put({"kind": "other"}, "nope")


def test_a_model_of_an_unregistered_format_is_an_error_naming_it(table_format):
    om.models.put({"kind": "table"}, "tab")
    unregister_format("json-table")
    with pytest.raises(InvalidInput, match="'json-table'.*not registered"):
        om.models.get("tab")


def test_register_format_validates():
    with pytest.raises(InvalidInput, match="fmt"):
        register_format(object())


def test_links_survive_new_versions_and_drop_with_the_model():
    from sklearn.linear_model import LinearRegression

    om.models.put(LinearRegression(), "m")
    with pytest.raises(NotFound):
        om.models.link("absent", "exp")
    om.models.link("m", "exp-a", autotrack=True)
    om.models.link("m", "exp-b", monitor=True)
    om.models.link("m", "exp-a", autotrack=False)  # replaces the earlier link to exp-a
    assert om.models.metadata("m")["version"] == 1, "linking created a model version"
    om.models.put(LinearRegression(fit_intercept=False), "m")
    links = om.models.metadata("m")["links"]
    assert [(lk["experiment"], lk.get("autotrack")) for lk in links] == [("exp-b", None), ("exp-a", False)]
    assert om.models.metadata("m", version=1)["links"] == links
    assert [v["version"] for v in om.models.versions("m")] == [1, 2]
    assert om.models.unlink("m", "exp-b") is True and om.models.unlink("m", "exp-b") is False
    om.models.drop("m")
    om.models.put(LinearRegression(), "m")
    assert om.models.metadata("m")["links"] == [], "links of a dropped model came back"
