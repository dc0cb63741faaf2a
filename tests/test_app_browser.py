"""The curator app in a real browser: `streamlit run` on localhost, every page opened in headless Chromium.

AppTest (tests/test_app.py) runs the scripts without a browser; this test checks that the served app
renders in one: navigation, the frontend, charts. Screenshots land under the test's tmp folder, and in
docs/screenshots/ when LENSFORGE_SAVE_SCREENSHOTS=1 (for the README).
Outside CI it skips only when chromium or chromedriver is missing; with $CI set it fails instead.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_fixtures import add_evals, add_snapshot

from lensforge.app.launch import command

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1440, 1000)
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# url path -> (title, a text the page shows once its data has loaded)
PAGES = {
    "overview": ("Overview", "What each stage has produced"),
    "queue": ("Review queue", "Nothing pending"),
    "catalog": ("Catalog", "of 100 datasets"),
    "quality": ("Data quality", "Row accounting"),
    "samples": ("Samples", "matching samples"),
    "labels": ("Label review", "Impact preview"),
    "label_issues": ("Label issues", "has not been scanned yet"),
    "instructions": ("Instructions", "Cost ledger"),
    "mixtures": ("Mixtures", "Compose"),
    "snapshots": ("Snapshots", "Publications"),
    "snapshot_rows": ("Snapshot rows", "The row as the model sees it"),
    "training": ("Training", "Runs"),
    "scores": ("Scores", "Per language"),
}
CT22 = "en/CT22Checkworthiness@2022"


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed (Debian: apt-get install -y chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {message}")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"streamlit did not answer on {url} within {timeout} s")


@contextlib.contextmanager
def _serve(ws, tmp_path: Path) -> Iterator[str]:
    """`streamlit run` on a free localhost port over `ws`, the way `lensforge app` starts it."""
    port = _free_port()
    env = {**os.environ, "LENSFORGE_HOME": str(ws.root), "LENSFORGE_USER": "browser-test"}
    log = (tmp_path / "streamlit.log").open("w")
    proc = subprocess.Popen(command(host="127.0.0.1", port=port), env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def served_app(demo_ws, tmp_path) -> Iterator[str]:
    """The app served on a free localhost port over a copy of the demo workspace carried to evaluations."""
    _require_browser()
    sid = add_snapshot(demo_ws)
    add_evals(demo_ws, sid)
    if os.environ.get("LENSFORGE_SAVE_SCREENSHOTS") == "1":  # a loss curve for the README's Training screenshot
        from lensforge.finetune.api import train

        train(
            demo_ws, sid, base="tiny", preset="cpu-tiny", overrides={"max_steps": 40, "logging_steps": 2}, actor="demo"
        )
    with _serve(demo_ws, tmp_path) as url:
        yield url


@pytest.fixture
def served_real_app(real_ws_copy, tmp_path) -> Iterator[tuple[str, object]]:
    """The app over a copy of the nine real datasets, just ingested, with offline English instructions for CT22."""
    _require_browser()
    from lensforge.instruct.generate import generate_for, make_providers

    generate_for(real_ws_copy, CT22, providers=make_providers(["offline"]), languages="en")
    with _serve(real_ws_copy, tmp_path) as url:
        yield url, real_ws_copy


@pytest.fixture
def browser(tmp_path):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-quic",
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver, url: str, title: str, key_text: str, timeout: float = 90) -> str:
    """Load a page and wait until its script has finished and its content is on screen; returns the body text."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    wait = WebDriverWait(driver, timeout, poll_frequency=0.25)
    try:
        wait.until(lambda d: title in d.find_element(By.TAG_NAME, "body").text)
        wait.until(lambda d: key_text in d.find_element(By.TAG_NAME, "body").text)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, READY))
    except TimeoutException:
        body = driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(
            f"{url}: {title!r} / {key_text!r} not shown within {timeout} s; page:\n{body[:2000]}"
        ) from None
    time.sleep(1.0)  # charts draw after the script run ends
    return driver.find_element(By.TAG_NAME, "body").text


def _assert_clean(driver, where: str) -> None:
    """No Streamlit exception, no error message, no "Page not found" modal: a page that renders with any of
    them is broken even when the text a test waits for is there."""
    from selenium.webdriver.common.by import By

    problems = [e.text[:300] for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')]
    problems += [e.text[:300] for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')]
    problems += [
        e.text[:300] for e in driver.find_elements(By.CSS_SELECTOR, '[role="dialog"]') if "not found" in e.text
    ]
    body = driver.find_element(By.TAG_NAME, "body").text
    if "Page not found" in body or "Traceback" in body:
        problems.append(body[:500])
    assert not problems, f"{where}: {problems}"


class Curator:
    """Drives Streamlit widgets in the browser by their keys (Streamlit gives each keyed widget the class
    `st-key-<key>`); every action waits for the rerun it triggers, then checks the page is clean."""

    def __init__(self, driver, url: str) -> None:
        self.driver, self.url = driver, url

    def open(self, path: str, title: str, key_text: str) -> str:
        body = _open(self.driver, f"{self.url}/{path}", title, key_text)
        _assert_clean(self.driver, path)
        return body

    def wait(self, expect: str | None = None, timeout: float = 120) -> None:
        """Until the rerun has finished (and `expect` is on the page), then check the page is clean."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        time.sleep(0.6)  # the rerun starts after the widget's message reaches the server

        def done(d) -> bool:
            if not d.find_elements(By.CSS_SELECTOR, READY):
                return False
            return expect is None or expect in d.find_element(By.TAG_NAME, "body").text

        try:
            WebDriverWait(self.driver, timeout, poll_frequency=0.25).until(done)
        except TimeoutException:
            raise AssertionError(f"{expect!r} not shown within {timeout} s; page:\n{self.text()[-3000:]}") from None
        time.sleep(0.4)
        _assert_clean(self.driver, self.driver.current_url)

    def box(self, key: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, ".st-key-" + re.sub(r"[^A-Za-z0-9_-]", "-", key))

    def type(self, key: str, text: str, expect: str | None = None) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        field = self.box(key).find_element(By.CSS_SELECTOR, "input, textarea")
        field.clear()
        field.send_keys(text, Keys.ENTER)
        self.wait(expect)

    def click(self, key: str, expect: str | None = None) -> None:
        from selenium.webdriver.common.by import By

        self.box(key).find_element(By.CSS_SELECTOR, "button").click()
        self.wait(expect)

    def radio(self, key: str, option: str, expect: str | None = None) -> None:
        from selenium.webdriver.common.by import By

        labels = [lab for lab in self.box(key).find_elements(By.CSS_SELECTOR, "label") if lab.text.strip() == option]
        assert labels, f"{key}: no option {option!r}"
        labels[0].click()
        self.wait(expect)

    def choose(self, key: str, text: str, expect: str | None = None) -> None:
        """Pick the option holding `text` in a selectbox or multiselect (typing it first narrows the list)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        field = self.box(key).find_element(By.CSS_SELECTOR, "input")
        field.click()
        field.send_keys(text)
        time.sleep(0.6)
        options = [o for o in self.driver.find_elements(By.CSS_SELECTOR, '[role="option"]') if text in o.text]
        assert options, f"{key}: no option holding {text!r}"
        options[0].click()
        time.sleep(0.3)
        if self.driver.find_elements(By.CSS_SELECTOR, '[role="option"]'):
            field.send_keys(Keys.ESCAPE)
        self.wait(expect)

    def follow(self, text: str, expect: str, timeout: float = 20) -> None:
        """Click the page link whose text holds `text` (opening a collapsed expander around it first).

        An expander whose label changed in the last rerun (a mapping approved) is redrawn folded and may still
        be moving when the link is clicked: the link is then looked up again and the click retried, until
        `timeout`, instead of failing on a click that raced the animation."""
        from selenium.common.exceptions import (
            ElementClickInterceptedException,
            ElementNotInteractableException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.common.by import By

        deadline = time.monotonic() + timeout
        while True:
            links = [
                a
                for a in self.driver.find_elements(By.CSS_SELECTOR, "a")
                if text in (a.get_attribute("textContent") or "")
            ]
            assert links, f"no link {text!r} on {self.driver.current_url}"
            try:
                folded = links[0].find_elements(By.XPATH, "ancestor::details[not(@open)]/summary")
                if folded:  # opened once: a second click on the summary would fold it again
                    self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", folded[0])
                    folded[0].click()
                    time.sleep(0.5)
                self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", links[0])
                links[0].click()
                break
            except (
                ElementClickInterceptedException,
                ElementNotInteractableException,
                StaleElementReferenceException,
            ):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.wait(expect)

    def cells(self) -> list[str]:
        """The cells of every table on the page (the grids draw on a canvas; their accessible copy is text)."""
        from selenium.webdriver.common.by import By

        return [
            c.get_attribute("textContent")
            for c in self.driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"] [role="gridcell"]')
        ]

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text


def _full_height(driver) -> None:
    """Grow the window to the page's content (Streamlit scrolls inside its main block, not the body)."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 0;"
    )
    if height and height > WINDOW[1]:
        driver.set_window_size(WINDOW[0], min(int(height) + 40, 6000))
        time.sleep(0.8)


@pytest.mark.slow(seconds=71)
def test_every_page_renders_in_chromium(served_app, browser, tmp_path):
    from selenium.webdriver.common.by import By

    shots = tmp_path / "screenshots"
    shots.mkdir()
    keep = ROOT / "docs" / "screenshots" if os.environ.get("LENSFORGE_SAVE_SCREENSHOTS") == "1" else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    for path, (title, key_text) in PAGES.items():
        _open(browser, f"{served_app}/{path}", title, key_text)
        _assert_clean(browser, path)
        nav = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebarNav"]').text
        assert "Data quality" in nav and "Label review" in nav, f"{path}: not the st.navigation menu: {nav!r}"
        assert "browser-test" in browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').get_attribute(
            "innerHTML"
        ), "the reviewer field in the sidebar"
        if path in ("overview", "labels", "scores"):
            assert browser.find_elements(By.CSS_SELECTOR, ".vega-embed"), f"{path}: no chart drawn"
        if path == "samples":
            assert "1,334" in browser.find_element(By.TAG_NAME, "body").text
            search = browser.find_element(By.CSS_SELECTOR, ".st-key-smp_text input")
            bidi = browser.execute_script("return getComputedStyle(arguments[0]).unicodeBidi", search)
            assert bidi == "plaintext", "text boxes take their direction from their text (Arabic, Hindi)"
        target = shots / f"{path}.png"
        _full_height(browser)
        assert browser.save_screenshot(str(target)), f"could not save {target}"
        browser.set_window_size(*WINDOW)
        assert target.stat().st_size > 10_000
        if keep:
            shutil.copyfile(target, keep / f"{path}.png")


@pytest.mark.slow(seconds=86)
def test_a_curator_walks_through_the_real_datasets(served_real_app, browser, tmp_path):
    """Issue 14's walk: the queue, a mapping with its example rows, one row relabeled and one excluded with
    reasons, a snapshot built from the mixture editor, the relabeled row found there with its new answer, and
    both decisions in the audit log."""
    from lensforge.catalog.events import list_events

    url, ws = served_real_app
    c = Curator(browser, url)
    c.open("queue", "Review queue", "item(s) over")
    assert "label mappings not reviewed yet" in c.cells()  # the other datasets; CT22 was opened for instructions
    c.choose("q_item", f"{CT22} · labels", f"lensforge labels approve {CT22}")
    c.follow(f"Open {CT22} on Label review", "Example rows")

    # Review the mapping: its chain, example rows behind each source label, then approve with a reason.
    assert "/labels?dataset=" in browser.current_url and "Example rows" in c.text()
    assert "0 → not-check-worthy → not-checkworthy (proposed)" in c.cells()
    assert c.text().count("· train") + c.text().count("· test") + c.text().count("· dev") >= 3  # example rows
    c.type("lbl_approve_reason", "decoding checked against the CT22 task description")
    c.click("lbl_approve_all", "approved 2 automatic proposal(s)")

    # The rows behind `0`, on Samples pre-filtered: relabel one, exclude another, each with a reason.
    c.follow("More rows of 0 on Samples", "2,270 matching samples")
    ids = [x for x in c.cells() if re.fullmatch(r"[0-9a-f]{20}", x or "")]
    relabeled, excluded = ids[0], ids[1]
    c.choose("smp_pick", relabeled, "Action")
    c.radio("smp_action", "relabel", "New canonical label")
    c.choose(f"smp_label_{CT22}", "checkworthy")
    c.type("smp_reason", "announces a vaccine delivery: a claim to check", "This touches 1 row(s)")
    c.click("smp_do_decide", "relabel → checkworthy on 1 row(s)")
    c.choose("smp_pick_1", excluded, "Action")  # a fresh, empty pick after each action
    c.radio("smp_action", "exclude", "Reason (required")
    c.type("smp_reason", "duplicate of a press release", "This touches 1 row(s)")
    c.click("smp_do_decide", "exclude on 1 row(s)")
    cells = c.cells()
    assert "relabel → checkworthy" in cells and "exclude" in cells

    # Compose a mixture, save it in the workspace, build its snapshot, open its rows.
    c.open("mixtures", "Mixtures", "Compose")
    c.type("mix_(new mixture)_name", "ct22 english")
    c.choose("mix_(new mixture)_datasets", CT22)
    c.click("mix_do_save", "saved in the workspace")
    assert (ws.root / "mixtures" / "ct22-english.toml").is_file()
    c.click("mix_do_plan", "Per language")
    assert "2119" in c.cells()  # train rows: 2,120 kept, less the excluded one
    c.click("mix_do_build", "built: {")
    c.follow("Open the rows of snapshot", "The row as the model sees it")
    assert "/snapshot_rows?snapshot=" in browser.current_url
    c.type("sr_id", relabeled, "1 train row(s)")
    assert "Label: checkworthy" in c.text()
    c.type("sr_id", excluded, "No row matches.")

    # Both decisions in the audit log, under the reviewer's name.
    c.open(f"labels?dataset={CT22.replace('/', '%2F').replace('@', '%40')}", "Label review", "Audit log")
    cells = c.cells()
    assert "rows.relabel" in cells and "rows.exclude" in cells and "browser-test" in cells
    events = list_events(ws, subject=CT22)
    assert {"rows.relabel", "rows.exclude", "labels.approve"} <= set(events["kind"])
    assert set(events.filter(events["kind"].str.starts_with("rows."))["actor"]) == {"browser-test"}
    browser.save_screenshot(str(tmp_path / "walk-audit.png"))
