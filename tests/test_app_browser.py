"""The curator app in a real browser: `streamlit run` on localhost, every page opened in headless Chromium.

AppTest (tests/test_app.py) runs the scripts without a browser; this test checks that the served app
renders in one: navigation, the frontend, charts. Screenshots land under the test's tmp folder, and in
docs/screenshots/ when LENSFORGE_SAVE_SCREENSHOTS=1 (for the README).
Outside CI it skips only when chromium or chromedriver is missing; with $CI set it fails instead.
"""

from __future__ import annotations

import os
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
    "catalog": ("Catalog", "of 100 datasets"),
    "quality": ("Data quality", "Row accounting"),
    "samples": ("Samples", "matching samples"),
    "labels": ("Label review", "Impact preview"),
    "instructions": ("Instructions", "Cost ledger"),
    "snapshots": ("Snapshots", "Publications"),
    "training": ("Training", "Runs"),
    "scores": ("Scores", "Per language"),
}


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
    port = _free_port()
    env = {**os.environ, "LENSFORGE_HOME": str(demo_ws.root), "LENSFORGE_USER": "browser-test"}
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


def _full_height(driver) -> None:
    """Grow the window to the page's content (Streamlit scrolls inside its main block, not the body)."""
    height = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 0;"
    )
    if height and height > WINDOW[1]:
        driver.set_window_size(WINDOW[0], min(int(height) + 40, 6000))
        time.sleep(0.8)


def test_every_page_renders_in_chromium(served_app, browser, tmp_path):
    from selenium.webdriver.common.by import By

    shots = tmp_path / "screenshots"
    shots.mkdir()
    keep = ROOT / "docs" / "screenshots" if os.environ.get("LENSFORGE_SAVE_SCREENSHOTS") == "1" else None
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    for path, (title, key_text) in PAGES.items():
        body = _open(browser, f"{served_app}/{path}", title, key_text)
        assert "Traceback" not in body, body[:500]
        assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), f"{path}: exception shown"
        nav = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebarNav"]').text
        assert "Data quality" in nav and "Label review" in nav, f"{path}: not the st.navigation menu: {nav!r}"
        assert "browser-test" in browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').get_attribute(
            "innerHTML"
        ), "the reviewer field in the sidebar"
        if path in ("overview", "labels", "scores"):
            assert browser.find_elements(By.CSS_SELECTOR, ".vega-embed"), f"{path}: no chart drawn"
        if path == "samples":
            assert "1,334" in body
        target = shots / f"{path}.png"
        _full_height(browser)
        assert browser.save_screenshot(str(target)), f"could not save {target}"
        browser.set_window_size(*WINDOW)
        assert target.stat().st_size > 10_000
        if keep:
            shutil.copyfile(target, keep / f"{path}.png")
