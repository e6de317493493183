"""The status page in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) against the real service on libsane's ``test`` backend.

One session, as a person would use it: the page shows both test scanners; a flatbed scan started
from the page downloads a PNG that decodes; a throttled feeder batch shows its progress moving
(pages and bytes) and downloads as one 10-page PDF; a PC that subscribed shows with its
destinations and gets the scan sent to it from the page; a jam appears live with its advice.
The page's screenshot is saved in the test's directory, and to ``$STATUS_PAGE_SCREENSHOT`` when
set: ``STATUS_PAGE_SCREENSHOT=docs/status-page.png .venv/bin/python -m pytest tests/e2e/test_status_page.py``
refreshes the one in docs/.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

from drivers.base import Condition
from firmware.model.pushscan import ScanAvailableEvent
from firmware.scan import conditions
from tests.pushscan.pc import PC
from tests.sane_env import write_sane_dir
from tests.servers import running_service, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.service, pytest.mark.sane]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PICTURE = {"test-picture": '"Color pattern"'}
SLOW = "read_delay = true, read_delay_duration = 50000"  # 50 ms per 64 KiB read: about 0.8 s per 75 dpi page

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="needs selenium (the test extras: ./scripts/setup --test installs them)"
)
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(
        f"needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver; ./scripts/setup --test installs them)",
        allow_module_level=True,
    )

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium downloading into ``tmp_path/downloads``; quit after the test."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1600"):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def until(driver, predicate, timeout: float = 30):
    """Wait for ``predicate(driver)`` to be true; its value."""
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(predicate)


def downloaded(driver, suffix: str, timeout: float = 60) -> Path:
    """The one finished download ending with ``suffix`` (waits for it)."""

    def done():
        files = [p for p in driver.downloads.iterdir() if p.name.endswith(suffix)]
        partial = list(driver.downloads.glob("*.crdownload"))
        return files[0] if files and not partial else None

    return wait_for(done, timeout=timeout)


def scan_from_page(driver, scanner: str, source: str, fmt: str, resolution: str = "75") -> None:
    """Fill the scan form of ``scanner`` and press its button."""
    form = driver.find_element(By.CSS_SELECTOR, f"section#{scanner} form.scan")
    Select(form.find_element(By.NAME, "source")).select_by_value(source)
    Select(form.find_element(By.NAME, "mode")).select_by_value("Color")
    Select(form.find_element(By.NAME, "resolution")).select_by_value(resolution)
    Select(form.find_element(By.NAME, "format")).select_by_value(fmt)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def text_of(driver, selector: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else ""


def write_config(path: Path, test0: str) -> None:
    path.write_text(f'[scanners."test:0"]\nsane_options = {{ {test0} }}\n')


def test_status_page_in_a_browser(tmp_path, browser, sink):
    sane = write_sane_dir(tmp_path / "sane", **PICTURE)
    config = tmp_path / "config.toml"
    write_config(config, SLOW)
    with running_service(sane, tmp_path / "state", "--config", str(config), expect=2) as service:
        base = f"http://127.0.0.1:{service.port}"
        browser.get(base + "/#test-1")

        # both test scanners, idle, each with its URLs to add it by hand
        until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.scanner")) == 2)
        for scanner in ("test-0", "test-1"):
            assert text_of(browser, f"section#{scanner} .state") == "Idle"
            assert f"{base}/scanners/{scanner}" in text_of(browser, f"section#{scanner} .urls")
        assert text_of(browser, "#live") == "live"

        # a flatbed scan to the browser: a PNG that decodes
        scan_from_page(browser, "test-1", "Flatbed", "png")
        png = downloaded(browser, ".png")
        with Image.open(png) as image:
            image.load()
            assert image.format == "PNG" and image.mode == "RGB" and image.size in ((590, 590), (591, 591))
        until(browser, lambda d: "Completed" in text_of(d, "section#test-1 .history"))

        # a throttled feeder batch: its progress moves while it runs, then one 10-page PDF
        scan_from_page(browser, "test-0", "ADF", "pdf")
        pages, scanned = [], []
        until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "section#test-0 .job-pages"))
        while True:
            shown = browser.find_elements(By.CSS_SELECTOR, "section#test-0 .job-pages")
            if not shown:
                break
            try:
                pages.append(int(shown[0].text.split()[0]))
                scanned.append(
                    int(browser.find_element(By.CSS_SELECTOR, "section#test-0 .job-bytes").get_attribute("data-bytes"))
                )
            except (NoSuchElementException, StaleElementReferenceException):  # the job ended between two look-ups
                continue
            time.sleep(0.1)
        assert len(set(pages)) >= 3 and pages == sorted(pages), pages  # pages done went up, step by step
        assert len(set(scanned)) >= 3 and scanned == sorted(scanned), scanned  # and the bytes scanned
        pdf = downloaded(browser, ".pdf")
        assert len(re.findall(rb"/Type /Page\b(?!s)", pdf.read_bytes())) == 10
        until(browser, lambda d: "Completed" in text_of(d, "section#test-0 .history tbody tr"))

        # a PC subscribes: it shows with its destinations, and the page sends it a scan
        pc = PC("PC1", "127.0.0.1", sink, service.urls["test:1"])
        assert pc.subscribe().status == 200
        until(browser, lambda d: "Scan to PC1" in text_of(d, "section#test-1 .subscribers"))
        push = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "section#test-1 form.push"))[0]
        Select(push.find_element(By.NAME, "destination")).select_by_value("Scan to PC1")
        push.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        until(browser, lambda d: "Sent to" in text_of(d, "section#test-1 form.push .message"))
        event = ScanAvailableEvent.from_xml(wait_for(lambda: pc.events())[0].body)
        assert event.client_context == "Scan" and event.scan_identifier

        # a jam: it appears without a reload, with what to do about it
        write_config(config, SLOW + ', read_return_value = "SANE_STATUS_JAMMED"')
        service.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in service.log_text(), timeout=30)
        scan_from_page(browser, "test-0", "ADF", "png")
        advice = conditions.ADVICE[Condition.JAMMED]
        until(browser, lambda d: advice in text_of(d, "section#test-0 .problem[data-condition=MediaJam]"))
        assert text_of(browser, "section#test-0 .state") == "Stopped"
        until(browser, lambda d: advice in text_of(d, "section#test-0 form.scan .message"))
        assert "Aborted" in text_of(browser, "section#test-0 .history tbody tr")

        browser.set_window_size(400, 900)  # a phone: nothing wider than the screen
        until(browser, lambda d: d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"))
        browser.set_window_size(1100, 1600)
        browser.execute_script("window.scrollTo(0, 0)")
        shot = tmp_path / "status-page.png"
        assert browser.save_screenshot(str(shot))
        with Image.open(shot) as image:
            assert image.size[0] > 0
        target = os.environ.get("STATUS_PAGE_SCREENSHOT")
        if target:
            shutil.copyfile(shot, target)
        assert "Traceback" not in service.log_text()
