"""Mapping: built-in reserved traits, explicit and auto mapping, coercion, compliance, describe cache."""

from __future__ import annotations

import random

import pytest

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.identity import IdentityGraph
from segmarketo_cli.mapping.mapper import (
    CoercionError,
    FieldCatalog,
    FieldInfo,
    Mapper,
    coerce,
    load_catalog,
    load_mapping_file,
    spellings,
)
from segmarketo_cli.state import StateStore

DESCRIBE = [
    {"dataType": "email", "length": 255, "rest": {"name": "email", "readOnly": False}},
    *[{"dataType": "string", "length": 255, "rest": {"name": n, "readOnly": False}}
      for n in ("firstName", "lastName", "title", "company", "industry", "city", "state", "country", "postalCode",
                "segmentUserId", "planTier")],
    {"dataType": "text", "length": 65535, "rest": {"name": "address", "readOnly": False}},
    {"dataType": "phone", "length": 20, "rest": {"name": "phone", "readOnly": False}},
    {"dataType": "integer", "rest": {"name": "numberOfEmployees", "readOnly": False}},
    {"dataType": "integer", "rest": {"name": "LoginsCount", "readOnly": False}},
    {"dataType": "boolean", "rest": {"name": "unsubscribed", "readOnly": False}},
    {"dataType": "date", "rest": {"name": "dateOfBirth", "readOnly": False}},
    {"dataType": "datetime", "rest": {"name": "trialEndsAt", "readOnly": False}},
    {"dataType": "currency", "rest": {"name": "arr", "readOnly": False}},
    {"dataType": "datetime", "rest": {"name": "createdAt", "readOnly": True}},
    {"dataType": "string", "displayName": "SOAP only"},
]


def catalog() -> FieldCatalog:
    return FieldCatalog.from_describe(DESCRIBE, {"email", "id", "segmentUserId"})


def person(traits: dict, **ids):
    graph = IdentityGraph()
    ids = ids or {"userId": "u-0"}
    graph.add({"type": "identify", "timestamp": "2024-05-01T00:00:00Z", "traits": traits, **ids})
    return next(graph.people())


def test_reserved_traits_map_to_standard_fields():
    mapper = Mapper(catalog(), user_id_field="segmentUserId")
    lead = mapper.map_person(person({
        "email": "ann@example.com", "first_name": "Snake", "firstName": "Camel", "name": "Ann Marie Lee",
        "phone": "+33 1 23", "company": {"name": "Initech", "industry": "Tech", "employee_count": "329"},
        "address": {"street": "6th St", "city": "SF", "state": "CA", "zip": "94103", "country": "USA"},
        "birthday": "1990-04-02T00:00:00Z", "createdAt": "2020-01-01", "favourite": "blue",
    }, userId="u-1"))
    assert lead.fields == {
        "email": "ann@example.com", "firstName": "Camel", "lastName": "Marie Lee", "phone": "+33 1 23",
        "company": "Initech", "industry": "Tech", "numberOfEmployees": 329, "address": "6th St", "city": "SF",
        "state": "CA", "postalCode": "94103", "country": "USA", "dateOfBirth": "1990-04-02",
        "segmentUserId": "u-1",
    }
    assert set(mapper.unmapped) == {"createdAt", "favourite", "name"}


def test_company_string_and_auto_matching_spellings():
    mapper = Mapper(catalog())
    lead = mapper.map_person(person({"company": "Acme", "plan_tier": "gold", "logins_count": 4, "arr": "1200.50"}))
    assert lead.fields == {"company": "Acme", "planTier": "gold", "LoginsCount": 4, "arr": 1200.5}
    off = Mapper(catalog(), auto_map=False)
    assert off.map_person(person({"plan_tier": "gold"})).fields == {}
    assert spellings("company.employee_count") == [
        "company.employee_count", "companyEmployeeCount", "CompanyEmployeeCount", "company_employee_count"]


def test_explicit_mapping_wins_and_is_validated(tmp_path):
    file = tmp_path / "mapping.toml"
    file.write_text('[mapping]\n"plan" = "planTier"\naddress.city = "state"\n')
    explicit = load_mapping_file(file)
    assert explicit == {"plan": "planTier", "address.city": "state"}
    lead = Mapper(catalog(), explicit=explicit).map_person(person({"plan": "pro", "address": {"city": "Lyon"}}))
    assert lead.fields == {"planTier": "pro", "state": "Lyon"}
    with pytest.raises(ConfigError, match="'nope': no such Marketo lead field"):
        Mapper(catalog(), explicit={"x": "nope"})
    with pytest.raises(ConfigError, match="read-only"):
        Mapper(catalog(), explicit={"created": "createdAt"})
    bad = tmp_path / "bad.toml"
    bad.write_text("plan = 3\n")
    with pytest.raises(ConfigError, match="must name a Marketo field"):
        load_mapping_file(bad)


def test_invalid_values_reject_or_drop_the_field():
    traits = {"email": "a@example.com", "company": {"employee_count": 14.1}, "phone": "1" * 25}
    lead = Mapper(catalog()).map_person(person(traits))
    assert sorted(e.field for e in lead.errors) == ["numberOfEmployees", "phone"]
    assert "integer" in next(e for e in lead.errors if e.field == "numberOfEmployees").describe()
    dropped = Mapper(catalog(), on_invalid="drop-field").map_person(person(traits))
    assert dropped.errors == []
    assert len(dropped.dropped) == 2
    assert dropped.fields == {"email": "a@example.com"}


def test_compliance_fields_are_never_set_false():
    explicit = {"unsub": "unsubscribed"}
    assert Mapper(catalog(), explicit=explicit).map_person(person({"unsub": "false"})).fields == {}
    assert Mapper(catalog(), explicit=explicit).map_person(person({"unsub": True})).fields == {"unsubscribed": True}


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("boolean", "yes", True), ("boolean", 0, False), ("integer", "42", 42), ("integer", 7.0, 7),
        ("float", "3.5", 3.5), ("percent", 12, 12), ("date", "2024-02-03", "2024-02-03"),
        ("datetime", "2024-02-03T04:05:06.789+02:00", "2024-02-03T02:05:06Z"),
        ("datetime", "2024-02-03T04:05:06", "2024-02-03T04:05:06Z"), ("string", 12.0, "12"),
        ("url", "https://x.io", "https://x.io"), ("email", " a@b.co ", "a@b.co"), ("currency", 10**400, 10**400),
    ],
)
def test_coerce_accepts(kind, value, expected):
    assert coerce(value, FieldInfo("f", kind, 255)) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [("boolean", "maybe"), ("integer", 14.1), ("integer", True), ("currency", "100%"), ("date", "tomorrow"),
     ("datetime", "03/02/2024"), ("email", "not an email"), ("email", "é@x.fr"), ("string", {"a": 1}),
     ("datetime", "9999-12-31T23:00:00-05:00"), ("datetime", "0001-01-01T00:30:00+01:00"),  # UTC out of range
     ("integer", "1" * 5000), ("currency", "1" * 400 + ".5"), ("float", "-1e400"), ("percent", float("inf"))],
)
def test_coerce_rejects(kind, value):
    with pytest.raises(CoercionError):
        coerce(value, FieldInfo("f", kind, 255))


def test_describe_is_cached_a_day_in_the_state_store(tmp_path):

    class Client:
        instance = "https://x.mktorest.com"
        calls = 0

        def describe_leads(self):
            self.calls += 1
            return DESCRIBE

        def describe_leads2(self):
            self.calls += 1
            return [{"searchableFields": [["email"], ["id"], ["segmentUserId"], ["firstName", "lastName"]]}]

    store = StateStore(tmp_path, "default")
    client = Client()
    first = load_catalog(client, store)
    second = load_catalog(client, store)
    assert client.calls == 2
    assert second.fields == first.fields
    assert second.searchable == {"email", "id", "segmentUserId"}
    second.check_lookup("segmentUserId")
    with pytest.raises(ConfigError, match="not searchable"):
        second.check_lookup("planTier")
    with pytest.raises(ConfigError, match="not a Marketo lead field"):
        second.check_lookup("nope")


def test_describe_cache_is_whatever_the_job_passes_in():
    class Cache:
        def __init__(self):
            self.values = {}

        def cache_get(self, instance, key):
            return self.values.get((instance, key))

        def cache_put(self, instance, key, value, ttl_s=86400):
            self.values[(instance, key)] = value

    class Client:
        instance = "https://x.mktorest.com"
        calls = 0

        def describe_leads(self):
            self.calls += 1
            return DESCRIBE

        def describe_leads2(self):
            return {"searchableFields": [["email"]]}

    cache, client = Cache(), Client()
    assert load_catalog(client, cache).searchable == {"email"}
    assert load_catalog(client, cache).fields == catalog().fields
    assert client.calls == 1
    assert load_catalog(client, None).searchable == {"email"}  # no cache: described again
    assert client.calls == 2


def test_unflattened_fast_path_maps_exactly_like_the_flattened_traits():

    rng = random.Random(7)
    pool = {
        "email": [" Pat@Example.COM ", "not-an-email", "", None, {"work": "w@example.com"}, {}],
        "name": ["Ada Lovelace", "Ada", "  ", 5, None],
        "firstName": ["Ann", None, "x" * 300], "title": ["CTO", 3.5, True, [1, 2]],
        "company": ["Initech", {"name": "Initech", "employee_count": 12}, {"name": None}, {}],
        "address": [{"city": "Paris", "country": "France", "geo": {"lat": 1.5}}, "1 Main St", None],
        "phone": ["+33 1 23 45 67 89", "1" * 30], "logins_count": [3, "4", 2.0, 2.5, "x", False, float("nan")],
        "arr": [1200, 99.5, float("inf"), "12.5"], "unsubscribed": [True, False, "yes"],
        "birthday": ["1990-02-03", "soon"], "trial_ends_at": ["2026-01-01T00:00:00Z", 1700000000],
        "company.name": ["Dotted Inc"], "plan": ["pro", None], "extra": [{"deep": {"deeper": "v"}}],
    }
    variants = [(Mapper(catalog()), {}), (Mapper(catalog(), explicit={"plan": "planTier"}), {}),
                (Mapper(catalog(), user_id_field="segmentUserId", on_invalid="drop-field"), {})]
    for n in range(400):
        keys = rng.sample(sorted(pool), rng.randint(0, len(pool)))
        traits = {key: rng.choice(pool[key]) for key in keys}
        ids = {"userId": f"u{n}"}
        if rng.random() < 0.3:
            ids["context"] = {"traits": {"email": f"ctx{n}@example.com"}}
        for mapper, _ in variants:
            fast = person(dict(traits), **ids)
            slow = person(dict(traits), **ids)
            assert fast.raw is not None
            assert slow.traits is not None
            assert slow.raw is None  # one flattened
            got, want = mapper.map_person(fast), mapper.map_person(slow)
            assert (got.fields, got.field_ts, got.errors, got.dropped, got.compliance_skipped) == (
                want.fields, want.field_ts, want.errors, want.dropped, want.compliance_skipped), traits
            assert list(got.fields) == list(want.fields)


@pytest.mark.parametrize("kind", ["date", "datetime"])
def test_epoch_numbers_beyond_the_platform_range_are_a_coercion_error(kind):
    with pytest.raises(CoercionError):
        coerce(10**30, FieldInfo("f", kind, None))
