"""Identity graph: who is one person, and how their traits merge."""

from __future__ import annotations

import random

from segmarketo_cli.identity import IdentityGraph, find_email, flatten, normalize_email


def ident(ts: str, traits: dict | None = None, **ids) -> dict:
    return {"type": "identify", "timestamp": ts, "traits": traits or {}, **ids}


def test_anonymous_then_identified_merges_and_latest_trait_wins():
    graph = IdentityGraph()
    graph.add(ident("2024-01-02T00:00:00Z", {"firstName": "Anon", "plan": "free"}, anonymousId="a1"), "f:1")
    graph.add(ident("2024-01-03T00:00:00Z", {"firstName": "Ann"}, anonymousId="a1", userId="u1"), "f:2")
    graph.add(ident("2024-01-01T00:00:00Z", {"firstName": "Older", "plan": "trial"}, userId="u1"), "f:3")
    (person,) = list(graph.people())
    assert person.value("firstName") == "Ann"
    assert person.value("plan") == "free"  # 2024-01-02 beats the older 2024-01-01 message read later
    assert person.traits["plan"].ts < person.traits["firstName"].ts
    assert person.user_ids == ["u1"]
    assert person.anonymous_ids == ["a1"]
    assert person.origin == "f:1"
    assert person.identifies == 3


def test_alias_and_email_join_people():
    graph = IdentityGraph()
    graph.add(ident("2024-01-01T00:00:00Z", {"company": {"name": "Initech"}}, anonymousId="anon-7"))
    graph.add({"type": "alias", "previousId": "anon-7", "userId": "u7"})
    graph.add(ident("2024-01-02T00:00:00Z", {"email": " Pat@Example.COM "}, userId="u7"))
    graph.add(ident("2024-01-03T00:00:00Z", {"email": "pat@example.com", "title": "CTO"}, userId="other-id"))
    graph.add(ident("2024-01-03T00:00:00Z", {"email": "someone@example.com"}, userId="u8"))
    people = list(graph.people())
    assert len(people) == 2 == len(graph)
    pat = people[0]
    assert pat.value("company.name") == "Initech"
    assert pat.value("title") == "CTO"
    assert pat.value("email") == "pat@example.com"
    assert set(pat.user_ids) == {"u7", "other-id"}


def test_nulls_keep_versus_clear():
    for mode, expected in (("keep", "Paris"), ("clear", None)):
        graph = IdentityGraph(nulls=mode)
        graph.add(ident("2024-01-01T00:00:00Z", {"address": {"city": "Paris", "country": "FR"}}, userId="u"))
        graph.add(ident("2024-01-02T00:00:00Z", {"address": {"city": None}}, userId="u"))
        graph.add(ident("2024-01-03T00:00:00Z", {"address": None}, userId="u"))
        (person,) = list(graph.people())
        assert person.value("address.city") == expected
        assert person.value("address.country") == ("FR" if mode == "keep" else None)


def test_non_identify_messages_are_ignored_but_their_cookie_joins_the_person():
    graph = IdentityGraph()
    cookie = "id:287-GTJ-838&token:_mch-example.com-1-2"
    assert graph.add({"type": "page", "anonymousId": "a9", "context": {"Marketo": {"marketoCookie": cookie}}}) is False
    assert graph.add({"type": "track", "userId": "u1", "event": "x"}) is False
    assert len(graph) == 0
    assert graph.add(ident("2024-01-01T00:00:00Z", {"email": "c@example.com"}, anonymousId="a9")) is True
    (person,) = list(graph.people())
    assert person.cookies == [cookie]


def test_email_locations_follow_segment_order():
    message = {"type": "identify", "userId": "ann@example.com", "traits": {},
               "context": {"traits": {"email": "ctx@example.com"},
                           "externalIds": [{"type": "email", "id": "ext@example.com"}]},
               "properties": {"email": "prop@example.com"}}
    assert find_email(message) == "ctx@example.com"
    message["context"].pop("traits")
    assert find_email(message) == "prop@example.com"
    message.pop("properties")
    assert find_email(message) == "ext@example.com"
    message["context"].pop("externalIds")
    assert find_email(message) is None
    assert find_email(message, user_id_is_email=True) == "ann@example.com"
    assert normalize_email("a" * 64) is None
    assert normalize_email("not-an-email") is None


def test_identify_without_any_id_is_not_used():
    graph = IdentityGraph()
    assert graph.add({"type": "identify", "traits": {"firstName": "x"}}) is False
    assert graph.add({"type": "identify", "traits": {"email": "only@example.com"}}) is True
    assert [p.value("email") for p in graph.people()] == ["only@example.com"]


def test_latest_user_id_and_merge_order_do_not_depend_on_hashing():
    graph = IdentityGraph()
    graph.add(ident("2024-03-01T00:00:00Z", {"email": "x@example.com"}, userId="new-id"))
    graph.add(ident("2024-01-01T00:00:00Z", {"email": "x@example.com"}, userId="old-id"))
    graph.add(ident("2024-02-01T00:00:00Z", {"firstName": "X"}, userId="old-id", anonymousId="a"))
    (person,) = list(graph.people(consume=True))
    assert person.user_id == "new-id"
    assert set(person.user_ids) == {"new-id", "old-id"}
    assert person.value("firstName") == "X"
    assert len(graph) == 0


def test_person_of_follows_ids_aliases_and_email_without_adding_nodes():
    graph = IdentityGraph()
    graph.add(ident("2024-01-01T00:00:00Z", {"plan": "free"}, anonymousId="anon-1"))
    graph.add({"type": "alias", "previousId": "old-user", "userId": "u1"})
    graph.add({"type": "alias", "previousId": "anon-1", "userId": "old-user"})
    graph.add(ident("2024-01-02T00:00:00Z", {"email": "Ann@Example.com"}, userId="u1"))
    graph.add({"type": "track", "anonymousId": "cookie-only", "context": {"Marketo": {"marketoCookie": "c1"}}})
    (ann,) = list(graph.people())
    assert graph.person_of(user_id="u1") is ann
    assert graph.person_of(user_id="old-user") is ann  # alias chain: old-user -> u1
    assert graph.person_of(anonymous_id="old-user") is ann  # previousId may be an anonymousId
    assert graph.person_of(anonymous_id=" anon-1 ") is ann
    assert graph.person_of(email=" ANN@example.COM") is ann
    assert graph.person_of(user_id="nobody", email="ann@example.com") is ann  # falls through to the e-mail
    assert graph.person_of(anonymous_id="cookie-only") is None  # never identified
    assert graph.person_of(user_id="nobody") is None
    assert graph.person_of() is None
    assert "u:nobody" not in graph._parent


def test_first_traits_kept_flat_equal_the_flattened_fold():


    rng = random.Random(3)
    pool = {"email": [" A@B.co ", "", None, {}, {"x": "y"}, 7], "name": ["Ann Lee", None],
            "company": [{"name": "I", "size": {"n": 3, "z": None}}, {}, None, "Initech"],
            "address.city": ["Dotted"], "address": [{"city": "Paris", "geo": {}}, None], "n": [0, False, 2.5, [1]]}
    for n in range(300):
        traits = {k: rng.choice(pool[k]) for k in rng.sample(sorted(pool), rng.randint(0, len(pool)))}
        message = ident("2024-01-01T00:00:00Z", traits, userId=f"u{n}")
        if rng.random() < 0.5:
            message["context"] = {"traits": {"email": f"Ctx{n}@Example.com"}}
        graph = IdentityGraph()
        graph.add(message)
        (person,) = list(graph.people())
        email = find_email(message)
        pairs = flatten(traits) + ([("email", email)] if email and not traits.get("email") else [])
        want: dict = {}
        for path, value in pairs:  # what _fold stores for a person's first traits (nulls keep)
            if value is not None:
                want[path] = value.strip().lower() if path == "email" and isinstance(value, str) else value
        assert person.raw is not None
        assert [(p, t.value) for p, t in person.traits.items()] == list(want.items()), traits
        assert person.raw is None
        assert all(t.ts == person.last_seen for t in person.traits.values())


def test_fast_paths_fold_repeated_identifies_like_the_general_fold():

    rng = random.Random(11)
    shapes = [{"email": "P@x.io", "plan": "pro", "company": {"name": "I"}}, {"email": "p@x.io", "plan": "free"},
              {"plan": "team", "company": {"name": "J", "size": 3}}, {}]
    for _ in range(200):
        messages = []
        for k in range(rng.randint(1, 4)):
            traits = {key: (f"{value}{k}" if isinstance(value, str) and key != "email" else value)
                      for key, value in rng.choice(shapes).items()}
            stamp = f"2024-01-0{rng.randint(1, 3)}T00:00:00Z" if rng.random() < 0.9 else None
            messages.append({"type": "identify", "userId": "u1", "timestamp": stamp, "traits": traits})
        fast, general = IdentityGraph(), IdentityGraph(nulls="clear")  # no nulls here: "clear" only differs in path
        for message in messages:
            fast.add(message)
            general.add(message)
        (a,), (b,) = list(fast.people()), list(general.people())
        assert {p: (t.value, t.ts, t.seq) for p, t in a.traits.items()} == \
            {p: (t.value, t.ts, t.seq) for p, t in b.traits.items()}, messages



def test_find_email_ignores_external_ids_that_are_not_a_list():
    message = {"type": "track", "context": {"externalIds": 7, "traits": {"email": "Ann@Example.com"}}}
    assert find_email(message) == "ann@example.com"
    assert find_email({"type": "track", "context": {"externalIds": {"type": "email"}}}) is None


def test_links_name_the_nodes_each_message_touches():
    graph = IdentityGraph()
    cookie = {"Marketo": {"marketoCookie": " c1 "}}
    identify = graph.links(ident("2024-01-01T00:00:00Z", {"email": " A@B.co "}, userId=" u1 ", anonymousId=7))
    assert identify is not None
    assert (identify.kind, identify.nodes, identify.used) == ("identify", ["u:u1", "a:7", "e:a@b.co"], True)
    alias = graph.links({"type": "alias", "previousId": "p", "userId": "u2"})
    assert alias is not None
    assert (alias.kind, alias.nodes, alias.used) == ("alias", ["u:u2", "u:p", "a:p"], True)
    page = graph.links({"type": "page", "anonymousId": "a9", "userId": "u9", "context": cookie})
    assert page is not None
    assert (page.kind, page.nodes, page.cookie, page.used) == ("cookie", ["u:u9"], "c1", False)
    assert graph.links({"type": "track", "userId": "u1"}) is None
    assert graph.links({"type": "alias", "userId": "u1"}) is None
    assert graph.links({"type": "identify", "traits": {"name": "no id"}}) is None
    assert graph._parent == {}  # naming the nodes adds none


def test_an_explicit_seq_is_the_one_folded():
    graph = IdentityGraph()
    graph.add(ident("2024-01-01T00:00:00Z", {"plan": "free"}, userId="u1"), "f:7", seq=41)
    graph.add(ident("2024-01-01T00:00:00Z", {"title": "CTO"}, userId="u1"), "f:9", seq=42)
    (person,) = list(graph.people())
    assert (person.first_seq, person.origin, person.latest_user) == (41, "f:7", (person.last_seen, 42, "u1"))
    assert [(path, trait.seq) for path, trait in person.traits.items()] == [("plan", 41), ("title", 42)]
