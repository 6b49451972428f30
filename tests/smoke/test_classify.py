"""Telling outcomes apart: by the body's outcome field, else by status alone (ambiguously)."""

from __future__ import annotations

import json

import pytest

from neruba_harden.smoke.classify import classify_outcome


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "accepted"), (202, "accepted"), (200, "duplicate"), (400, "replay"),
     (400, "rejected"), (401, "rejected"), (422, "conflict"), (409, "in_flight"),
     (500, "failed"), (503, "failed")],
)
def test_the_outcome_field_names_the_outcome(status: int, outcome: str) -> None:
    found = classify_outcome(status, body(outcome=outcome))
    assert found.name == outcome
    assert found.named_by_body and found.status_matches and not found.ambiguous


def test_an_outcome_with_the_wrong_status_is_flagged() -> None:
    found = classify_outcome(500, body(outcome="accepted"))
    assert found.name == "accepted" and not found.status_matches


def test_the_outcome_field_name_is_configurable() -> None:
    found = classify_outcome(200, body(result="duplicate"), "result")
    assert found.name == "duplicate" and found.named_by_body


def test_without_an_outcome_field_200_is_accepted_or_duplicate() -> None:
    found = classify_outcome(200, body(event_id="evt_1"))
    assert found.ambiguous
    assert found.could_be("accepted") and found.could_be("duplicate")
    assert not found.is_("accepted")
    assert "no outcome field" in str(found)


@pytest.mark.parametrize(("status", "name"), [(202, "accepted"), (422, "conflict"),
                                              (409, "in_flight"), (500, "failed")])
def test_status_alone_proves_outcomes_that_own_their_status(status: int, name: str) -> None:
    found = classify_outcome(status, b"")
    assert not found.ambiguous and found.is_(name)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_any_3xx_is_a_redirect(status: int) -> None:
    assert classify_outcome(status, body(outcome="accepted")).name == "redirect"


def test_an_html_error_page_is_unexpected() -> None:
    found = classify_outcome(502, b"<html><h1>Bad Gateway</h1></html>")
    assert found.name == "unexpected" and not found.candidates


def test_an_unknown_outcome_value_is_unexpected() -> None:
    found = classify_outcome(200, body(outcome="ok"))
    assert found.name == "unexpected" and found.reported == "ok"


def test_410_is_gone() -> None:
    assert classify_outcome(410, b"").name == "gone"
