"""The web UI in headless Chromium (Debian's chromium, driven by Playwright) against a devnet of
real node processes: log in with an API key, see the network, search, open a record and see
its verification badge and trail. Screenshots are kept in ``test-artifacts/ui/``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.system.test_devnet import ROOT, Net, _free_base, mra, new_record, view_at, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "ui"
# Without these, Chromium keeps trying to reach Google's services from a closed network.
QUIET = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    directory = tmp_path_factory.mktemp("ui-devnet") / "net"
    base = _free_base()
    mra(
        "devnet",
        "up",
        "--dir",
        str(directory),
        "--base-port",
        str(base),
        "--records",
        "5",
        "--detach",
    )
    yield Net(directory, base)
    mra("devnet", "down", "--dir", str(directory))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (scripts/setup installs it)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET)
        yield launched
        launched.close()


def open_page(browser: Browser) -> Page:
    # The devnet's certificates are the test's own; the browser is told not to check it.
    return browser.new_context(ignore_https_errors=True).new_page()


def log_in(page: Page, net: Net, code: str, key: str) -> None:
    page.goto(f"{net.url(code)}/ui/")
    assert page.url.endswith("/ui/login")
    page.fill("#api_key", key)
    page.click("#login")
    page.wait_for_url("**/ui/")


def key(net: Net, code: str, role: str) -> str:
    if role == "admin":
        return (net.dir / code / "admin.key").read_text().strip()
    return mra("apikey", "create", "--role", role, "--home", str(net.dir / code)).strip()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def published(net: Net, number: int) -> dict[str, Any]:
    record = new_record("BR", number)
    with net.api("BR") as client:
        assert client.post("/v1/aeo", json=record).status_code == 200
        suspended = {"code": "suspended", "reason": "audit", "effective": "2026-11-02"}
        answer = client.post(f"/v1/aeo/{record['aeo_id']}/status", json=suspended)
        assert answer.status_code == 200

    def suspended_at_uy() -> bool:
        held = view_at(net, "UY", record["aeo_id"])
        return held is not None and held["view"]["status"]["code"] == "suspended"

    wait_for(suspended_at_uy, 10, "the suspension at UY")
    return record


def test_log_in_see_the_network_search_and_open_a_record(net: Net, browser: Browser) -> None:
    record = published(net, 955001)
    aeo_id = record["aeo_id"]
    page = open_page(browser)

    page.goto(f"{net.url('UY')}/ui/")
    assert page.url.endswith("/ui/login")
    shot(page, "01-login")
    page.fill("#api_key", "mra_0000_not-a-key")
    page.click("#login")
    assert "unknown or revoked API key" in page.inner_text("#error")

    log_in(page, net, "UY", key(net, "UY", "auditor"))

    def all_reachable() -> bool:
        page.reload()
        return page.locator("#peers .badge.ok").count() == 4

    wait_for(all_reachable, 15, "four reachable peers on the overview")
    assert "BR" in page.inner_text("#logs")
    shot(page, "02-network")

    page.click("text=AEO search")
    page.fill("#q", aeo_id)
    page.click("#search")
    page.wait_for_url(f"**/ui/aeo/{aeo_id}")
    assert page.inner_text("#badge") == "verified"
    assert page.inner_text("#status") == "suspended"
    history = page.locator("#history tr")
    assert history.count() == 3  # header and two versions
    assert "status.code: valid → suspended" in history.nth(2).inner_text()
    assert "UI /ui/aeo/{aeo_id}" in page.inner_text("#queries")
    assert record["legal_name"] in page.inner_text("#fields")
    shot(page, "03-record")

    identifier = record["identifiers"][0]
    page.goto(f"{net.url('UY')}/ui/search")
    page.fill("#q", f"{identifier['scheme']}:{identifier['value']}")
    page.click("#search")
    assert aeo_id in page.inner_text("#results")
    page.fill("#q", "not an id")
    page.click("#search")
    assert "q:" in page.inner_text("#error")

    page.click("text=Agreements")
    agreements = page.inner_text("#agreements")
    assert "MRA-BR-UY" in agreements and "MERCOSUR-AEO" in agreements
    assert agreements.count("approved") == 2
    shot(page, "04-agreements")

    page.click("text=log out")
    page.goto(f"{net.url('UY')}/ui/aeo/{aeo_id}")
    assert page.url.endswith("/ui/login")


def test_the_origin_shows_deliveries_and_a_viewer_sees_no_trail(net: Net, browser: Browser) -> None:
    record = published(net, 955002)
    page = open_page(browser)
    log_in(page, net, "BR", key(net, "BR", "admin"))
    path = f"{net.url('BR')}/ui/aeo/{record['aeo_id']}"

    def delivered_to_uy_and_ar() -> bool:
        page.goto(path)
        text = page.inner_text("#deliveries")
        return "peer:UY" in text and "peer:AR" in text

    wait_for(delivered_to_uy_and_ar, 10, "deliveries to UY and AR on BR's record page")
    assert "peer:CL" not in page.inner_text("#deliveries")
    assert page.inner_text("#badge") == "verified"
    shot(page, "05-origin-record")

    viewer = open_page(browser)
    viewer_key = key(net, "UY", "viewer")
    log_in(viewer, net, "UY", viewer_key)
    viewer.goto(f"{net.url('UY')}/ui/aeo/{record['aeo_id']}")
    assert viewer.inner_text("#badge") == "verified"
    assert "needs an auditor key" in viewer.inner_text("#no-trail")
    assert viewer.locator("#history").count() == 0
    # A key revoked while its session is open ends the session at the next page.
    key_id = viewer_key.split("_")[1]
    mra("apikey", "revoke", key_id, "--home", str(net.dir / "UY"))
    viewer.goto(f"{net.url('UY')}/ui/")
    assert viewer.url.endswith("/ui/login")
