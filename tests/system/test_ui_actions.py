"""Officers act from the web UI, in headless Chromium against a devnet of real node processes:
a status change reviewed and confirmed, refused changes that change nothing, the CSRF token and
the role each POST needs, and the dashboard. Screenshots are kept in ``test-artifacts/ui/``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.system.test_devnet import Net, _free_base, mra, new_record, view_at, wait_for
from tests.system.test_web_ui import browser, key, log_in, open_page, shot

# Minutes of whole-network procedures: .ci/run runs them as their own step (pytest -m long).
pytestmark = pytest.mark.long

__all__ = ["browser"]  # the module's Chromium, shared with test_web_ui's fixture


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    directory = tmp_path_factory.mktemp("ui-actions") / "net"
    base = _free_base()
    where = ("--dir", str(directory))
    mra("devnet", "up", *where, "--base-port", str(base), "--records", "3", "--detach")
    yield Net(directory, base)
    mra("devnet", "down", *where)


@pytest.fixture(scope="module")
def officer(net: Net) -> str:
    return key(net, "BR", "publisher")


def published(net: Net, number: int) -> str:
    record = new_record("BR", number)
    with net.api("BR") as client:
        assert client.post("/v1/aeo", json=record).status_code == 200
    return str(record["aeo_id"])


def status_at_br(net: Net, aeo_id: str) -> dict[str, Any]:
    held = view_at(net, "BR", aeo_id)
    assert held is not None
    status: dict[str, Any] = held["record"]["status"]
    return status


def audit_rows(net: Net, aeo_id: str, action: str) -> list[dict[str, Any]]:
    with net.api("BR") as client:
        answer = client.get("/v1/audit", params={"aeo_id": aeo_id, "action": action})
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["rows"]
    return rows


def review(page: Page, code: str, reason: str, effective: str) -> None:
    page.select_option("#code", code)
    page.fill("#reason", reason)
    page.fill("#effective", effective)
    page.click("#review")


def test_an_officer_suspends_a_record_after_review_and_confirmation(
    net: Net, browser: Browser, officer: str
) -> None:
    aeo_id = published(net, 957001)
    page = open_page(browser)
    log_in(page, net, "BR", officer)
    page.goto(f"{net.url('BR')}/ui/aeo/{aeo_id}")
    assert page.inner_text("#status") == "valid"
    options = page.locator("#code option").all_inner_texts()
    assert options == ["Suspend", "Revoke"]  # nothing to reinstate from valid
    shot(page, "10-officer-record")

    # No reason: refused on the page, naming the field, and nothing written.
    review(page, "suspended", "", "2026-11-20")
    assert "reason: a reason is required for status suspended" in page.inner_text("#error")
    # The form comes back as filled; a date that is no calendar date is refused in turn.
    review(page, "suspended", "customs audit under way", "2026-02-30")
    assert "effective: 2026-02-30 is not a calendar date" in page.inner_text("#error")
    shot(page, "11-officer-refused")
    assert status_at_br(net, aeo_id)["code"] == "valid"
    assert audit_rows(net, aeo_id, "status") == []

    review(page, "suspended", "customs audit under way", "2026-11-20")
    summary = page.inner_text("#summary")
    assert "valid → suspended" in summary and "customs audit under way" in summary
    assert status_at_br(net, aeo_id)["code"] == "valid"  # reviewing writes nothing
    shot(page, "12-officer-confirm")
    page.click("#confirm")
    page.wait_for_url(f"**/ui/aeo/{aeo_id}?changed=*")
    assert page.inner_text("#status") == "suspended"
    assert "Status change recorded as BR#" in page.inner_text("#changed")
    assert page.locator("#code option").all_inner_texts() == ["Reinstate", "Revoke"]
    assert status_at_br(net, aeo_id) == {
        "code": "suspended",
        "reason": "customs audit under way",
        "effective": "2026-11-20",
    }
    # Attributed as the API attributes it: the key as actor, action "status".
    key_id = officer.split("_")[1]
    (row,) = audit_rows(net, aeo_id, "status")
    assert row["actor"].startswith(f"key:{key_id}") and row["channel"].startswith("UI POST")
    assert f"key:{key_id}" in page.locator("#history tr").nth(2).inner_text()
    shot(page, "13-officer-suspended")

    # The partner entitled to the record sees the change on its dashboard.
    uy = open_page(browser)
    log_in(uy, net, "UY", key(net, "UY", "viewer"))

    def received_at_uy() -> str:
        uy.goto(f"{net.url('UY')}/ui/dashboard")
        if uy.locator("#received").count() == 0:
            return ""
        text = uy.locator("#received tr").nth(1).inner_text()
        return text if aeo_id in text else ""

    newest = wait_for(received_at_uy, 10, "the suspension on UY's dashboard")
    assert "BR#" in newest and "valid → suspended" in newest and "2026-11-20" in newest
    assert uy.locator("#code").count() == 0
    shot(uy, "14-partner-dashboard")


def test_a_transition_the_ledger_refuses_is_shown_and_changes_nothing(
    net: Net, browser: Browser, officer: str
) -> None:
    aeo_id = published(net, 957002)
    with net.api("BR") as client:
        suspended = {"code": "suspended", "reason": "audit", "effective": "2026-11-02"}
        assert client.post(f"/v1/aeo/{aeo_id}/status", json=suspended).status_code == 200
    first, second = open_page(browser), open_page(browser)
    for page in (first, second):
        log_in(page, net, "BR", officer)
        page.goto(f"{net.url('BR')}/ui/aeo/{aeo_id}")

    # One officer revokes; another, on a page loaded before, then tries to reinstate.
    review(second, "revoked", "fraud established", "2026-11-10")
    second.click("#confirm")
    second.wait_for_url("**?changed=*")
    assert second.inner_text("#status") == "revoked"
    assert "is final" in second.inner_text("#final")
    assert second.locator("#code").count() == 0

    review(first, "valid", "", "2026-11-12")
    assert "status revoked is final" in first.inner_text("#error")
    assert first.inner_text("#current") == "revoked"
    shot(first, "15-officer-final")
    assert status_at_br(net, aeo_id)["code"] == "revoked"
    assert len(audit_rows(net, aeo_id, "status")) == 2  # the API's and the revocation


def test_a_viewer_has_no_buttons_and_a_post_needs_the_token_and_a_publisher(
    net: Net, browser: Browser, officer: str
) -> None:
    aeo_id = published(net, 957003)
    url = f"{net.url('BR')}/ui/aeo/{aeo_id}/status"
    change: dict[str, str | float | bool] = {
        "code": "revoked",
        "reason": "forged",
        "effective": "2026-11-20",
        "confirm": "yes",
    }

    viewer = open_page(browser)
    log_in(viewer, net, "BR", key(net, "BR", "viewer"))
    viewer.goto(f"{net.url('BR')}/ui/aeo/{aeo_id}")
    assert viewer.inner_text("#status") == "valid"
    assert viewer.locator("#actions").count() == 0 and viewer.locator("button#review").count() == 0
    token = viewer.get_attribute("meta[name=csrf-token]", "content")
    assert token
    refused = viewer.request.post(url, form={**change, "csrf": token}, max_redirects=0)
    assert refused.status == 403 and "publisher is needed" in refused.text()

    page = open_page(browser)
    log_in(page, net, "BR", officer)
    page.goto(f"{net.url('BR')}/ui/aeo/{aeo_id}")
    assert page.locator("#actions").count() == 1
    # Without a token, or with another session's, nothing is changed.
    for form in (change, {**change, "csrf": token}, {**change, "csrf": ""}):
        answer = page.request.post(url, form=form, max_redirects=0)
        assert answer.status == 403 and "CSRF token" in answer.text()
    page.goto(url.removesuffix("/status"))
    assert page.inner_text("#status") == "valid"
    assert status_at_br(net, aeo_id)["code"] == "valid"
    assert audit_rows(net, aeo_id, "status") == []
    # With its own token the same POST is the officer's confirmed change.
    own = page.get_attribute("meta[name=csrf-token]", "content")
    done = page.request.post(url, form={**change, "csrf": str(own)}, max_redirects=0)
    assert done.status == 303
    assert status_at_br(net, aeo_id)["code"] == "revoked"


def counts(page: Page) -> dict[str, int]:
    cells = page.locator("#counts td")
    return {
        str(cells.nth(i).get_attribute("data-status")): int(cells.nth(i).inner_text())
        for i in range(cells.count())
    }


def test_the_dashboard_counts_own_records_by_status(
    net: Net, browser: Browser, officer: str
) -> None:
    page = open_page(browser)
    log_in(page, net, "BR", officer)
    page.click("text=Dashboard")
    before = counts(page)
    assert before["total"] == sum(n for code, n in before.items() if code != "total") > 0
    aeo_id = published(net, 957004)
    page.reload()
    assert counts(page) == {**before, "valid": before["valid"] + 1, "total": before["total"] + 1}
    with net.api("BR") as client:
        suspended = {"code": "suspended", "reason": "audit", "effective": "2026-11-02"}
        assert client.post(f"/v1/aeo/{aeo_id}/status", json=suspended).status_code == 200
    page.reload()
    after = counts(page)
    assert after["valid"] == before["valid"] and after["suspended"] == before["suspended"] + 1
    shot(page, "16-dashboard")
