"""Your sign-in methods (SPEC §13, issue 25): adding an authenticator app in Chromium with codes
computed here by pyotp, an independent implementation of RFC 6238, from the key the page shows
and from its QR code read back by zbarimg; removing it; the password asked for when the login
code is not recent. Then the same through the API alone, pyotp reading the `otpauth://` URI.
Screenshots of every screen under .build/screenshots/<test>/, each checked with axe-core."""
import base64
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pyotp
from selenium.webdriver.common.by import By

from test_dashboard import enter_code, log_in


def read_qr(png_bytes):
    """The text of the QR code in a PNG (zbarimg), or None where zbar-tools is missing."""
    if shutil.which("zbarimg") is None:
        return None
    with tempfile.NamedTemporaryFile(suffix=".png") as image:
        image.write(png_bytes)
        image.flush()
        result = subprocess.run(["zbarimg", "--raw", "-q", "-Sbinary", image.name], capture_output=True, check=True)
    return result.stdout.decode().strip()


def svg_to_png(svg):
    """rsvg-convert's drawing of an SVG document, or None where librsvg2-bin is missing."""
    if shutil.which("rsvg-convert") is None:
        return None
    return subprocess.run(["rsvg-convert", "-z", "3"], input=svg.encode(), capture_output=True, check=True).stdout


def fresh_code(totp, not_of_step=None):
    """The app's code now, waiting into the next 30-second step if `not_of_step` is this one
    (each step counts once per user)."""
    for _ in range(70):
        step = int(time.time()) // 30
        if step != not_of_step:
            return totp.at(time.time()), step
        time.sleep(0.5)
    raise AssertionError("the 30-second step never changed")


def age_sessions(world, email):
    """Makes every session of `email` older than the 10 minutes that count as a recent code."""
    world.cluster.query("UPDATE sessions SET created_at = now() - interval '11 minutes' "
                        "WHERE user_id = (SELECT id FROM users WHERE email = :'v1')", email)


def method_names(page):
    return [item.find_element(By.CLASS_NAME, "method-name").text for item in page.el("methods-list").find_elements(By.TAG_NAME, "li")]


def test_add_and_remove_an_authenticator_app(world, main_server, page):
    company = world.company("methods")
    company.enable_two_factor(main_server, world.mailbox)
    log_in(page, main_server, company.owner, company.password)
    page.wait_screen("code")
    enter_code(page, world.mailbox.next_code(company.owner))
    page.wait_screen("home")
    page.shot("home")

    page.press("Manage your sign-in methods")
    page.wait_screen("methods")
    page.wait(lambda: method_names(page), "the list of methods")
    assert method_names(page) == [f"Email to {company.owner}"]
    assert page.el("methods-list").find_elements(By.TAG_NAME, "button") == [], "email cannot be removed"
    page.shot("methods-email-only")

    page.press("Add an authenticator app")
    page.wait_screen("addapp")
    page.shot("add-name")
    # No name: said before asking the server.
    page.press("Next", within="addapp-start")
    page.wait_error("addapp", "Give the app a name")
    page.fill("addapp-name", "Work phone")
    page.press("Next", within="addapp-start")
    # Logged in with a code a moment ago: no password asked.
    page.wait(lambda: page.shown("addapp-scan"), "the QR code step")
    assert page.focused_id() == "addapp-scan-title"
    page.wait(lambda: page.driver.execute_script("return document.getElementById('addapp-qr').naturalWidth") > 0,
              "the QR code image to load under the page's Content-Security-Policy")
    assert page.text("addapp-issuer") == company.name
    shown_key = page.text("addapp-key")
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", shown_key), shown_key
    key = shown_key.replace(" ", "")
    page.shot("add-scan")

    # The QR code as the browser drew it, read back: the same key, for this company and user.
    uri = read_qr(page.el("addapp-qr").screenshot_as_png)
    if uri is not None:
        scanned = pyotp.parse_uri(uri)
        assert scanned.secret == key and scanned.issuer == company.name and scanned.name == company.owner, uri
        assert scanned.digits == 6 and scanned.interval == 30
    app = pyotp.TOTP(key)

    page.press("Copy the key")
    page.wait_text("addapp-copied", "copied|selected")

    code, _ = fresh_code(app)
    wrong = f"{(int(code) + 500000) % 1000000:06d}"
    page.fill("addapp-code", wrong)
    page.press("Add the app", within="addapp-confirm")
    page.wait_text("addapp-code-error", "not right")
    assert page.focused_id() == "addapp-code"
    page.shot("add-wrong-code")

    code, step = fresh_code(app)
    page.fill("addapp-code", f"{code[:3]} {code[3:]}")
    page.press("Add the app", within="addapp-confirm")
    page.wait_screen("methods")
    page.wait_status("methods", "“Work phone” is added")
    page.wait(lambda: len(method_names(page)) == 2, "the app in the list")
    assert method_names(page) == [f"Email to {company.owner}", "Work phone"]
    assert "Not used to log in yet" in page.text("methods-list")
    # Nothing of the secret stays in the page or its storage.
    assert key not in page.driver.page_source and key not in page.session_storage()
    page.shot("methods-with-app")

    page.press("My Company: Security")
    page.wait_screen("security")
    page.wait_text("events-body", "Authenticator app added: “Work phone”")

    # Removing, with a confirmation; the login code is still recent, so no password.
    page.press("Sign-in methods")
    page.wait_screen("methods")
    page.wait(lambda: len(method_names(page)) == 2, "the list")
    page.driver.find_element(By.CSS_SELECTOR, "button[aria-label='Remove Work phone']").click()
    page.wait(lambda: page.shown("remove-dialog"), "the confirmation")
    assert page.text("remove-title") == "Remove “Work phone”?"
    assert page.focused_id() == "remove-cancel"
    page.shot("remove-confirm")
    page.press("Remove", within="remove-form")
    page.wait_status("methods", "“Work phone” was removed")
    page.wait(lambda: len(method_names(page)) == 1, "the app to leave the list")
    page.shot("methods-removed")

    # Eleven minutes later (as far as the server knows): adding asks for the password.
    age_sessions(world, company.owner)
    page.press("Add an authenticator app")
    page.wait_screen("addapp")
    page.fill("addapp-name", "Tablet")
    page.press("Next", within="addapp-start")
    page.wait_error("addapp", "enter your password")
    assert page.shown("addapp-password-field") and page.focused_id() == "addapp-password"
    page.shot("add-password-asked")
    page.fill("addapp-password", "not-the-password")
    page.press("Next", within="addapp-start")
    page.wait_error("addapp", "That password is not right")
    page.fill("addapp-password", company.password)
    page.press("Next", within="addapp-start")
    page.wait(lambda: page.shown("addapp-scan"), "the QR code step after the password")
    tablet = pyotp.TOTP(page.text("addapp-key").replace(" ", ""))
    code, _ = fresh_code(tablet, not_of_step=step)
    page.fill("addapp-code", code)
    page.press("Add the app", within="addapp-confirm")
    page.wait_status("methods", "“Tablet” is added")

    # And removing asks for it too.
    page.driver.find_element(By.CSS_SELECTOR, "button[aria-label='Remove Tablet']").click()
    page.wait(lambda: page.shown("remove-dialog"), "the confirmation")
    page.press("Remove", within="remove-form")
    page.wait_text("remove-error", "enter your password")
    assert page.shown("remove-password-field")
    page.shot("remove-password-asked")
    page.fill("remove-password", company.password)
    page.press("Remove", within="remove-form")
    page.wait_status("methods", "“Tablet” was removed")
    # Each change was mailed to the user (the worker sends them as it goes).
    def notices():
        subjects = [record["headers"].get("Subject", "") for _, record in world.mailbox.messages(company.owner)]
        return [subject for subject in subjects if "authenticator app" in subject]

    page.wait(lambda: len(notices()) == 4, "four notices: two apps added, two removed", timeout=30)
    assert sorted(notices())[0].startswith("An authenticator app was added to your"), notices()


def test_sign_in_methods_on_a_phone(world, main_server, browser_factory):
    """375 px wide, 2FA off (a password-only session always confirms with the password)."""
    page = browser_factory(width=375, height=800)
    company = world.company("narrow")
    log_in(page, main_server, company.owner, company.password)
    page.wait_screen("home")
    page.press("Sign-in methods")
    page.wait_screen("methods")
    page.wait(lambda: method_names(page), "the list of methods")
    page.shot("methods")
    page.press("Add an authenticator app")
    page.wait_screen("addapp")
    page.fill("addapp-name", "Phone")
    page.press("Next", within="addapp-start")
    page.wait_error("addapp", "enter your password")
    page.fill("addapp-password", company.password)
    page.press("Next", within="addapp-start")
    page.wait(lambda: page.shown("addapp-scan"), "the QR code step")
    width = page.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways: {width} px"
    page.shot("scan")
    # Leaving the screen drops the key.
    page.press("Cancel", within="addapp-confirm")
    page.wait_screen("methods")
    assert page.text("addapp-key") == "" and not page.el("addapp-qr").get_attribute("src")


def test_pyotp_confirms_through_the_api(world, main_server):
    """No browser: the API's enrollment read by pyotp, its codes confirming the app."""
    company = world.company("peer")
    status, _, body = main_server.api("POST", "/v1/auth/login", {"email": company.owner, "password": company.password, "client": "dashboard"})
    assert status == 200, body
    token = body["session"]["token"]

    status, _, body = main_server.api("POST", "/v1/me/methods/totp", {"name": "Peer", "password": company.password}, token)
    assert status == 201, body
    enrollment = body["enrollment"]
    app = pyotp.parse_uri(enrollment["otpauth_uri"])
    assert isinstance(app, pyotp.TOTP)
    assert app.secret == enrollment["secret"] and len(base64.b32decode(app.secret)) == 20
    assert app.issuer == company.name and app.name == company.owner
    assert app.digits == 6 and app.interval == 30 and app.digest().name == "sha1"
    # pyotp writes the same URI for the same key, issuer and account (bar parameter order).
    assert enrollment["otpauth_uri"].startswith(f"otpauth://totp/{quote(company.name)}:{quote(company.owner, safe='')}?")
    png = svg_to_png(enrollment["qr_svg"])
    if png is not None:
        assert read_qr(png) == enrollment["otpauth_uri"]

    # A code two steps away is refused; the current one confirms.
    status, _, body = main_server.api("POST", f"/v1/me/methods/totp/{enrollment['id']}/confirm",
                                      {"code": app.at(time.time() + 90)}, token)
    assert status == 401 and body["error"]["code"] == "invalid_code", body
    status, _, body = main_server.api("POST", f"/v1/me/methods/totp/{enrollment['id']}/confirm", {"code": app.now()}, token)
    assert status == 200, body
    assert body["method"]["kind"] == "totp" and body["method"]["name"] == "Peer"

    status, _, body = main_server.api("GET", "/v1/me/methods", None, token)
    assert status == 200 and [m["kind"] for m in body["methods"]] == ["email", "totp"], body
    # The secret is never answered again.
    assert enrollment["secret"] not in str(body)
    assert enrollment["secret"] not in Path(world.logs / "main.log").read_text(errors="replace")
