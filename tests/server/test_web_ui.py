"""The web chat UI (web/, served by `kt serve` at /web/) in headless Chromium.

Needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) and
`selenium` from PyPI (tests/server/requirements.txt); skips with a message without them. The
driver path is given explicitly, so Selenium Manager never goes to the network.

The element ids and classes used here are the UI's test contract (see web/README.md).
"""
import os
import shutil
from pathlib import Path

import pytest

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    webdriver = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ANSWER_TIMEOUT_S = 60


@pytest.fixture
def browser():
    """browser(width, height) -> a headless Chrome driver, quit after the test."""
    if webdriver is None:
        pytest.skip("selenium is not installed (pip install -r tests/server/requirements.txt)")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            pytest.skip(f"{path} is absent (apt-get install chromium chromium-driver)")
    drivers = []

    def make(width=1200, height=900):
        options = Options()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
                    f"--window-size={width},{height}"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                                  options=options)
        drivers.append(driver)
        if width < 500:
            # Headless Chrome keeps windows at least 500px wide; emulate the phone's viewport.
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 2, "mobile": True})
        return driver

    yield make
    for driver in drivers:
        driver.quit()


def open_chat(driver, server):
    driver.get(server.base_url + "/web/index.html#/chat")
    wait = WebDriverWait(driver, 20)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    # The header shows the model once GET /v1/models has answered.
    wait.until(lambda d: d.find_element(By.ID, "model").text not in ("", "…"))


def set_max_tokens(driver, n):
    """Through the settings panel: keeps answers short (stories260K runs with context 512)."""
    driver.find_element(By.ID, "settings-btn").click()
    field = driver.find_element(By.ID, "set-max-tokens")
    WebDriverWait(driver, 5).until(lambda d: field.is_displayed())
    field.clear()
    field.send_keys(str(n))
    driver.find_element(By.ID, "settings-save").click()
    WebDriverWait(driver, 5).until(lambda d: not d.find_element(By.ID, "settings").is_displayed())


def ask(driver, text):
    """Sends `text` and returns the new assistant message element once it is finished."""
    before = len(driver.find_elements(By.CSS_SELECTOR, "#messages .msg.assistant"))
    driver.find_element(By.ID, "prompt").send_keys(text)
    driver.find_element(By.ID, "send").click()

    def finished(d):
        done = d.find_elements(By.CSS_SELECTOR, "#messages .msg.assistant[data-done='1']")
        return done[-1] if len(done) > before else False

    return WebDriverWait(driver, ANSWER_TIMEOUT_S).until(finished)


def check_answer(msg):
    errors = msg.find_elements(By.CSS_SELECTOR, ".error")
    assert not errors, f"the UI shows an error: {errors[0].text}"
    assert msg.find_element(By.CSS_SELECTOR, ".body").text.strip(), "empty answer"
    stats = msg.find_element(By.CSS_SELECTOR, ".stats").text
    assert "tok/s" in stats, f"stats line without tok/s: {stats!r}"
    return stats


def screenshot(driver, tmp_path, name):
    path = tmp_path / name
    assert driver.save_screenshot(str(path))
    out = os.environ.get("KT_TEST_OUTPUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / name)
    return path


def test_chat_streams_an_answer(browser, stories_server, tmp_path):
    driver = browser()
    open_chat(driver, stories_server)
    set_max_tokens(driver, 48)
    msg = ask(driver, "Once upon a time")
    check_answer(msg)
    assert driver.find_element(By.ID, "send").is_displayed()
    assert not driver.find_element(By.ID, "stop").is_displayed()
    png = screenshot(driver, tmp_path, "web-chat.png")
    assert png.exists() and png.stat().st_size > 0


def test_conversation_survives_reload(browser, stories_server):
    driver = browser()
    open_chat(driver, stories_server)
    set_max_tokens(driver, 16)
    check_answer(ask(driver, "Tell me about a cat"))
    driver.refresh()
    open_chat(driver, stories_server)
    titles = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#conversations .conv-title")]
    assert any("Tell me about a cat" in t for t in titles), titles
    user = driver.find_elements(By.CSS_SELECTOR, "#messages .msg.user")
    assert [u.text for u in user] == ["Tell me about a cat"]
    answers = driver.find_elements(By.CSS_SELECTOR, "#messages .msg.assistant[data-done='1']")
    assert len(answers) == 1 and answers[0].text.strip()


def test_phone_layout_has_no_horizontal_overflow(browser, stories_server, tmp_path):
    driver = browser(390, 844)
    open_chat(driver, stories_server)
    set_max_tokens(driver, 32)
    check_answer(ask(driver, "Once upon a time"))
    width, inner = driver.execute_script(
        "return [document.body.scrollWidth, window.innerWidth]")
    assert inner <= 400, f"viewport not phone-sized: {inner}"
    assert width <= inner + 1, f"body is {width}px wide in a {inner}px window"
    # The sidebar is a drawer behind the menu button.
    assert not driver.find_element(By.ID, "sidebar").is_displayed()
    driver.find_element(By.ID, "menu").click()
    # Wait for the drawer to finish sliding in before the screenshot.
    WebDriverWait(driver, 5).until(lambda d: d.execute_script(
        "return document.getElementById('sidebar').getBoundingClientRect().left") >= 0)
    assert driver.find_element(By.ID, "sidebar").is_displayed()
    screenshot(driver, tmp_path, "web-chat-phone.png")


def test_markdown_escapes_model_text(browser, stories_server):
    """Model text is HTML-escaped before Markdown markup is added (no script injection)."""
    driver = browser()
    open_chat(driver, stories_server)
    html = driver.execute_script("return window.ktMarkdown.render(arguments[0])",
                                 "<img src=x onerror=alert(1)> **bold** [x](javascript:alert(1))\n"
                                 "```python\nprint('<b>')  # hi\n```")
    assert "<img" not in html and "&lt;img" in html
    assert "<strong>bold</strong>" in html
    assert "javascript:" not in html
    assert '<span class="tok-str">&#39;&lt;b&gt;&#39;</span>' in html
    assert '<span class="tok-comment"># hi</span>' in html
