"""A Chromium page driven the way a person uses it, with a screenshot and an axe-core check of
every screen it passes through."""
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from support import REPO

WAIT = 20

_axe_source = None


def axe_source():
    """The axe-core script shipped in the PyPI package axe-selenium-python."""
    global _axe_source
    if _axe_source is None:
        import axe_selenium_python

        path = Path(axe_selenium_python.__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
        _axe_source = path.read_text()
    return _axe_source


def start_chromium(width=1024, height=900, home=None):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=en-GB",
                     f"--window-size={width},{height}", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en-GB"})
    env = dict(os.environ, TZ="UTC")
    if home:
        env["HOME"] = str(home)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"), env=env)
    driver = webdriver.Chrome(options=options, service=service)
    if width < 500:
        # A desktop window cannot be this narrow: emulate a phone's screen instead.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
    return driver


class Page:
    def __init__(self, driver, shots_folder):
        self.driver = driver
        self.shots = Path(shots_folder)
        shutil.rmtree(self.shots, ignore_errors=True)
        self.shots.mkdir(parents=True)
        self.count = 0
        self.violations = []

    # ---- looking ----

    def el(self, element_id):
        return self.driver.find_element(By.ID, element_id)

    def text(self, element_id):
        return self.el(element_id).text

    def shown(self, element_id):
        return self.el(element_id).is_displayed()

    def wait(self, condition, what, timeout=WAIT):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda _: condition(), message=what)

    def wait_text(self, element_id, pattern, timeout=WAIT):
        """Waits until the element shows text matching `pattern` (a regular expression); returns the text."""
        regex = re.compile(pattern)
        found = {}

        def check():
            element = self.el(element_id)
            text = element.text if element.is_displayed() else ""
            found["text"] = text
            return regex.search(text) is not None and text

        try:
            return self.wait(check, f"#{element_id} to show /{pattern}/", timeout)
        except Exception as error:
            raise AssertionError(f"#{element_id} shows {found.get('text')!r}, not /{pattern}/") from error

    def wait_screen(self, name, timeout=WAIT):
        """Waits until the screen `name` is the one shown and its heading has focus."""
        section = f"screen-{name}"

        def check():
            focused = self.driver.execute_script(
                "const s = document.getElementById(arguments[0]); const h = s.querySelector('h1');"
                "return !s.hidden && document.activeElement === h && h.textContent;", section)
            return focused

        return self.wait(check, f"the {name} screen with focus on its heading", timeout)

    def error(self, screen):
        return self.driver.find_element(By.CSS_SELECTOR, f"#screen-{screen} [data-error]").text

    def status(self, screen):
        return self.driver.find_element(By.CSS_SELECTOR, f"#screen-{screen} [data-status]").text

    def wait_error(self, screen, pattern, timeout=WAIT):
        regex = re.compile(pattern)
        return self.wait(lambda: regex.search(self.error(screen)) and self.error(screen),
                         f"the {screen} screen's error to match /{pattern}/", timeout)

    def wait_status(self, screen, pattern, timeout=WAIT):
        regex = re.compile(pattern)
        return self.wait(lambda: regex.search(self.status(screen)) and self.status(screen),
                         f"the {screen} screen's status to match /{pattern}/", timeout)

    def button(self, label, within=None):
        """The visible button whose text is `label`."""
        root = self.el(within) if within else self.driver
        for button in root.find_elements(By.TAG_NAME, "button"):
            if button.is_displayed() and button.text.strip() == label:
                return button
        raise AssertionError(f"no visible button {label!r}")

    def url(self):
        return self.driver.current_url

    # ---- doing ----

    def open(self, url):
        self.driver.get(url)

    def fill(self, element_id, value):
        field = self.el(element_id)
        field.clear()
        field.send_keys(value)

    def press(self, label, within=None):
        self.button(label, within).click()

    def keys(self, *keys):
        """Types into whatever has focus, as a keyboard would."""
        self.driver.switch_to.active_element.send_keys(*keys)

    def tab_to(self, element_id, limit=25, backwards=False):
        """Presses TAB (or Shift+TAB) until `element_id` has focus (fails after `limit` presses)."""
        for _ in range(limit):
            if backwards:
                self.keys(Keys.SHIFT, Keys.TAB)
            else:
                self.keys(Keys.TAB)
            if self.driver.switch_to.active_element.get_attribute("id") == element_id:
                return
        raise AssertionError(f"TAB never reached #{element_id}")

    def focused_id(self):
        return self.driver.switch_to.active_element.get_attribute("id")

    def session_storage(self):
        return self.driver.execute_script("return JSON.stringify(Object.assign({}, sessionStorage));")

    # ---- recording ----

    def shot(self, name, axe=True):
        """Saves a full-page screenshot as NN-name.png and checks the screen with axe-core."""
        self.count += 1
        path = self.shots / f"{self.count:02d}-{name}.png"
        size = self.driver.execute_script(
            "return [document.documentElement.scrollWidth, Math.max(document.documentElement.scrollHeight, innerHeight)]")
        result = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
        })
        import base64

        path.write_bytes(base64.b64decode(result["data"]))
        if axe:
            self.check_axe(name)
        return path

    def check_axe(self, name):
        """Runs axe-core on the page as it is and fails on any violation."""
        if not self.driver.execute_script("return typeof window.axe === 'object'"):
            self.driver.execute_script(axe_source())
            # This axe-core (2018) predates the HTML token autocomplete="one-time-code", which
            # the code field must carry (SPEC §12); it is added to the known tokens, nothing else.
            self.driver.execute_script(
                "axe.configure({checks: [{id: 'autocomplete-valid', options: {standaloneTerms: ['one-time-code']}}]});")
        outcome = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {}, (error, results) => done(error ? {error: String(error)} : {violations: results.violations}));")
        assert "error" not in outcome, outcome
        found = [
            {"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [node["target"] for node in v["nodes"]][:5]}
            for v in outcome["violations"]
        ]
        assert not found, f"axe-core violations on the {name} screen:\n" + json.dumps(found, indent=1)
