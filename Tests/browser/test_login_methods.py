"""Logging in with a choice of second factors and remembered browsers in Chromium (SPEC §13,
§14, issue 25): the code screen opening on the authenticator app with a code pyotp computes (an
independent RFC 6238 implementation) from the key the API gave at enrolment, "Use email
instead", the owner's policy controls, and a remembered browser skipping the code on the next
login and not after it is forgotten. Screenshots of every screen under
.build/screenshots/<test>/, each checked with axe-core."""
import re
import time

import pyotp
from selenium.webdriver.common.by import By

from test_dashboard import enter_code, expect_no_secrets_in_url, log_in
from test_sessions import open_sessions, row_with, rows


def api_login(server, mailbox, email, password):
    """A dashboard session through the API that passed the emailed code just now."""
    status, _, body = server.api("POST", "/v1/auth/login", {"email": email, "password": password, "client": "dashboard"})
    assert status == 202, body
    token = body["challenge"]["token"]
    status, _, body = server.api("POST", "/v1/auth/login/verify", {"challenge_token": token, "code": mailbox.next_code(email)})
    assert status == 200, body
    return body["session"]["token"]


def set_policy(server, mailbox, company, **change):
    session = api_login(server, mailbox, company.owner, company.password)
    status, _, body = server.api("PATCH", "/v1/company/security/policy", {**change, "password": company.password}, session)
    assert status == 200, body
    server.api("POST", "/v1/auth/logout", {}, session)
    mailbox.skip_all(company.owner)
    return body["policy"]


def enrol_app(server, mailbox, email, password):
    """Adds an authenticator app through the API as its owner would; answers pyotp's TOTP for
    the key the API returned (read from the otpauth URI, as an app scanning the QR code does)
    and the step its confirmation used."""
    session = api_login(server, mailbox, email, password)
    status, _, body = server.api("POST", "/v1/me/methods/totp", {"name": "Phone"}, session)
    assert status == 201, body
    totp = pyotp.parse_uri(body["enrollment"]["otpauth_uri"])
    assert totp.secret == body["enrollment"]["secret"]
    step = int(time.time()) // 30
    status, _, body = server.api("POST", f"/v1/me/methods/totp/{body['enrollment']['id']}/confirm", {"code": totp.at(time.time())}, session)
    assert status == 200, body
    server.api("POST", "/v1/auth/logout", {}, session)
    mailbox.skip_all(email)
    return totp, step


def login_codes_queued(world, email):
    """How many login codes were ever queued for `email` (the outbox, not the SMTP sink, which
    may still be receiving other notices)."""
    return int(world.cluster.query("SELECT count(*) FROM email_outbox WHERE template = 'login_code' AND recipient = :'v1'", email))


def code_after(totp, step):
    """An app code of a step later than `step` (each step logs in once): the next step's code,
    which the server accepts as one step of drift, so nobody waits for the clock."""
    return totp.at((step + 1) * 30)


def test_the_code_screen_opens_on_the_app_and_offers_email(world, main_server, page):
    company = world.company("appcode")
    member = company.add("member", "member", dashboard_access=True)
    company.enable_two_factor(main_server, world.mailbox)
    set_policy(main_server, world.mailbox, company, methods="any")
    totp, step = enrol_app(main_server, world.mailbox, member, company.password)
    codes_before = login_codes_queued(world, member)  # the enrolment's own login

    log_in(page, main_server, member, company.password)
    page.wait_screen("code")
    page.wait_text("code-title", "^Enter the code from your app$")
    assert page.text("code-label") == "Code from your authenticator app"
    assert page.shown("code-use-email") and not page.shown("code-use-app")
    assert not page.shown("code-resend") and not page.shown("code-delivery")
    assert login_codes_queued(world, member) == codes_before, "nothing is mailed until email is picked"
    page.shot("app-code")

    enter_code(page, "000000")
    page.wait_error("code", "not right")
    page.wait_text("code-attempts", "^4 tries left")
    page.shot("app-code-wrong")

    enter_code(page, code_after(totp, step))
    page.wait_screen("home")
    expect_no_secrets_in_url(page)
    page.shot("home")
    page.press("Log out")
    page.wait_screen("login")

    # The next login: the user has no phone at hand.
    log_in(page, main_server, member, company.password)
    page.wait_text("code-title", "^Enter the code from your app$")
    page.press("Use email instead")
    page.wait_status("code", re.escape("We sent a code to m"))
    page.wait_text("code-title", "^Check your email$")
    assert page.shown("code-use-app") and not page.shown("code-use-email")
    page.wait_text("code-delivery", "sent|Sending")
    page.shot("email-instead")
    enter_code(page, world.mailbox.next_code(member))
    page.wait_screen("home")


def test_a_remembered_browser_skips_the_code_until_it_is_forgotten(world, main_server, page):
    company = world.company("remember")
    member = company.add("member", "member", dashboard_access=True)
    company.enable_two_factor(main_server, world.mailbox)
    set_policy(main_server, world.mailbox, company, ask="per_browser", remember_days=7)

    log_in(page, main_server, member, company.password)
    page.wait_screen("code")
    page.wait_text("code-remember-label", "^Don't ask again on this browser for 7 days$")
    page.el("code-remember").click()
    page.shot("code-remember")
    enter_code(page, world.mailbox.next_code(member))
    page.wait_screen("home")
    key = f"tollgate.remembered.{member}"
    token = page.driver.execute_script("return localStorage.getItem(arguments[0])", key)
    assert token and len(token) == 64
    expect_no_secrets_in_url(page)
    page.press("Log out")
    page.wait_screen("login")

    # Remembered: straight home, no code mailed.
    log_in(page, main_server, member, company.password)
    page.wait_screen("home")
    assert login_codes_queued(world, member) == 1, "only the first login's code"
    page.shot("home-without-code")

    # Forgotten on "where you're logged in": the code is asked for again, and the page drops
    # the dead token.
    open_sessions(page)
    page.wait(lambda: rows(page, "browsers-body"), "the remembered browser")
    page.shot("sessions-remembered")
    row_with(page, "browsers-body", "Chrome").find_element(By.TAG_NAME, "button").click()
    page.wait(lambda: not rows(page, "browsers-body"), "the browser to be forgotten")
    page.press("Log out")
    page.wait_screen("login")
    log_in(page, main_server, member, company.password)
    page.wait_screen("code")
    assert page.driver.execute_script("return localStorage.getItem(arguments[0])", key) is None
    enter_code(page, world.mailbox.next_code(member))
    page.wait_screen("home")


def test_owners_change_the_policy_on_the_security_tab(world, main_server, page):
    company = world.company("policy")
    admin = company.add("admin", "admin")
    log_in(page, main_server, company.owner, company.password)
    page.wait_screen("home")
    page.press("My Company: Security")
    page.wait_screen("security")
    page.wait_text("policy-state", "codes by email only, and are asked at every login")
    assert page.el("policy-methods-email").is_selected() and page.el("policy-ask-every").is_selected()

    page.el("policy-methods-any").click()
    page.el("policy-ask-browser").click()
    page.fill("policy-days", "14")
    page.press("Save the policy")
    page.wait_error("security", "Enter your password to confirm")
    page.fill("policy-password", "not-the-password")
    page.press("Save the policy")
    page.wait_error("security", "That password is not right")
    page.wait(lambda: page.el("policy-password").is_enabled(), "the form to come back")
    page.fill("policy-password", company.password)
    page.press("Save the policy")
    page.wait_status("security", "The sign-in policy is saved")
    page.wait_text("policy-state", "any of their methods .* once per browser: a browser can be remembered for 14 days")
    page.wait_text("events-body", "Sign-in policy changed")
    page.shot("policy-saved")
    page.press("Log out")
    page.wait_screen("login")

    # An admin sees the policy, and cannot change it.
    log_in(page, main_server, admin, company.password)
    page.wait_screen("home")
    page.press("My Company: Security")
    page.wait_screen("security")
    page.wait_text("policy-state", "once per browser")
    assert page.shown("policy-readonly") and not page.shown("policy-save")
    assert not page.el("policy-methods-email").is_enabled()
    page.shot("policy-admin")
