"""`hinr serve` in a real browser (Debian's chromium + chromium-driver, driven by selenium): the page
loads, an upload of examples/astronaut_32.png asked for 256×256 downloads a 256×256 PNG equal in
pixels to `hinr upscale`'s output, a corrupt file shows the CLI's one-line message, and
screenshots are taken at a laptop's and a phone's width (kept in $HINR_SCREENSHOTS if set).

CI installs the browser (.ci/run); elsewhere the test skips without it, but not under CI=true."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_helpers import REPO

CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False
if not CI and not (CHROMIUM and DRIVER and HAVE_SELENIUM):
    pytest.skip("needs chromium, chromedriver and selenium (CI installs them)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    env = {**os.environ, "HINR_DEBUG": "0", "OMP_NUM_THREADS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "hinr.cli.app", "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    started = time.monotonic()
    address = proc.stdout.readline().strip()  # the URL, once it listens
    assert address == f"http://127.0.0.1:{port}/", proc.stderr.read()
    assert time.monotonic() - started < 60  # the bar: a page answers within 60 s
    yield address
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=DriverService(DRIVER), options=options)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _shot(driver, name: str) -> None:
    folder = Path(os.environ.get("HINR_SCREENSHOTS", "")) if os.environ.get("HINR_SCREENSHOTS") else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(folder / name))


def _wait(condition, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_upload_compare_and_download_equals_hinr_upscale(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(server)
    assert "hinr" in browser.title
    _shot(browser, "serve_empty_laptop.png")
    browser.find_element(By.ID, "files").send_keys(str(REPO / "examples" / "astronaut_32.png"))
    Select(browser.find_element(By.ID, "mode")).select_by_value("size")
    size = browser.find_element(By.ID, "size")
    size.clear()
    size.send_keys("256x256")
    browser.find_element(By.ID, "go").click()
    link = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "a.download"))[0]
    assert link.get_attribute("download") == "astronaut_32_256.png"
    _wait(lambda: browser.execute_script(
        "return [...document.querySelectorAll('.compare img')].every(i => i.complete && i.naturalWidth)"))
    browser.execute_script("document.querySelector('.slider').value = 35;"
                           "document.querySelector('.slider').dispatchEvent(new Event('input'));")
    _shot(browser, "serve_result_laptop.png")
    link.click()
    downloaded = _wait(lambda: [p for p in browser.downloads.glob("*.png")])[0]
    assert downloaded.name == "astronaut_32_256.png"
    reference = tmp_path / "cli.png"
    subprocess.run([sys.executable, "-m", "hinr.cli.app", "upscale", str(REPO / "examples" / "astronaut_32.png"),
                    "--size", "256x256", "-o", str(reference)], check=True, capture_output=True)
    with Image.open(downloaded) as page, Image.open(reference) as cli:
        assert page.size == (256, 256)
        assert np.array_equal(np.asarray(page), np.asarray(cli))
    browser.set_window_size(390, 844)  # a phone
    time.sleep(0.3)
    _shot(browser, "serve_result_phone.png")


def test_corrupt_file_shows_the_cli_message(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    browser.set_window_size(1280, 900)
    browser.get(server)
    browser.find_element(By.ID, "files").send_keys(str(bad))
    browser.find_element(By.ID, "go").click()
    error = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".job .error"))[0]
    assert "broken.png" in error.text and ("corrupt" in error.text or "not an image" in error.text)
    assert "/tmp" not in error.text  # the private upload folder is never shown
    _shot(browser, "serve_error_laptop.png")


def test_best_quality_box_asks_for_the_eight_pass_ensemble(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for old in browser.downloads.glob("*.png"):
        old.unlink()
    browser.set_window_size(1280, 900)
    browser.get(server)
    browser.find_element(By.ID, "files").send_keys(str(REPO / "examples" / "astronaut_32.png"))
    Select(browser.find_element(By.ID, "scale")).select_by_value("2")
    browser.find_element(By.ID, "best").click()
    _shot(browser, "serve_best_quality_laptop.png")
    browser.find_element(By.ID, "go").click()
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "a.download"))[0].click()
    downloaded = _wait(lambda: [p for p in browser.downloads.glob("*.png")])[0]
    reference = tmp_path / "cli.png"
    subprocess.run([sys.executable, "-m", "hinr.cli.app", "upscale", str(REPO / "examples" / "astronaut_32.png"),
                    "--scale", "2", "--ensemble", "8", "-o", str(reference)], check=True, capture_output=True)
    with Image.open(downloaded) as page, Image.open(reference) as cli:
        assert np.array_equal(np.asarray(page), np.asarray(cli))


def test_format_compare_any_two_and_download_all(server, browser, tmp_path):
    """JPEG out at the asked quality; the right side switched to the hybrid weights (made when
    asked for), the left to jpeg's; "Download all" is a zip of the results."""
    import zipfile

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for old in browser.downloads.iterdir():
        old.unlink()
    browser.set_window_size(1280, 900)
    browser.get(server)
    browser.find_element(By.ID, "files").send_keys(str(REPO / "examples" / "astronaut_32.png"))
    Select(browser.find_element(By.ID, "format")).select_by_value("jpeg")
    quality = browser.find_element(By.ID, "quality")
    assert quality.is_displayed()
    quality.clear()
    quality.send_keys("80")
    browser.find_element(By.ID, "go").click()
    link = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, "a.download"))[0]
    assert link.get_attribute("download") == "astronaut_32_128.jpg"
    Select(browser.find_element(By.CSS_SELECTOR, ".pick .right")).select_by_value("hybrid")
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, ".cr").text == "hinr hybrid, magnified")
    Select(browser.find_element(By.CSS_SELECTOR, ".pick .left")).select_by_value("jpeg")
    _wait(lambda: browser.find_element(By.CSS_SELECTOR, ".cl").text == "hinr jpeg, magnified")
    sources = _wait(lambda: browser.execute_script(
        "const i = [...document.querySelectorAll('.compare img')];"
        "return i.every(x => x.complete && x.naturalWidth) && i.map(x => x.getAttribute('src'))"))
    assert len(set(sources)) == 2 and all(s.endswith("/result") for s in sources)
    _shot(browser, "serve_compare_two_models_laptop.png")
    browser.find_element(By.CSS_SELECTOR, "#all a").click()
    archive = _wait(lambda: [p for p in browser.downloads.glob("*.zip")])[0]
    with zipfile.ZipFile(archive) as z:
        assert z.namelist() == ["astronaut_32_128.jpg"]
        data = z.read("astronaut_32_128.jpg")
    assert data[:3] == b"\xff\xd8\xff"  # a JPEG
