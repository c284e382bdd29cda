"""The reference dashboard in a real Chromium against the real `serve` and `worker`, with email
through a real SMTP server (SPEC §12, issue 14). Each test asserts what a person sees and
saves a screenshot of every screen it passes through under .build/screenshots/<test>/;
every screenshot is also checked with axe-core (zero violations)."""
import re

from selenium.webdriver.common.keys import Keys

WRONG = "000000"


def wrong_code(right):
    """A 6-digit code that is not `right`."""
    return WRONG if right != WRONG else "111111"


def log_in(page, server, email, password):
    """Opens the dashboard and submits the login form."""
    page.open(server.url + "/")
    page.wait_screen("login")
    page.shot("login")
    page.fill("login-email", email)
    page.fill("login-password", password)
    page.press("Log in", within="login-form")


def code_login(world, server, page, name):
    """A company with 2FA on whose owner has just entered the password: the code screen is
    shown (and saved), and the code mailed for it is returned with the company."""
    company = world.company(name)
    company.enable_two_factor(server, world.mailbox)
    log_in(page, server, company.owner, company.password)
    page.wait_screen("code")
    page.shot("code")
    return company, world.mailbox.next_code(company.owner)


def enter_code(page, code, submit="Log in"):
    """Types a code into the code screen and submits it."""
    page.fill("code-input", code)
    page.press(submit, within="code-form")


def send_new_code(page):
    """Presses "Send a new code"; if that came within the cooldown, waits for the countdown to
    end and presses again. Returns once the page says a new code was sent."""
    page.press("Send a new code")
    answer = page.wait(lambda: page.status("code") or page.error("code"), "an answer to the resend")
    if "We sent" not in answer:
        page.wait(lambda: page.el("code-resend").is_enabled(), "Send a new code to come back", timeout=40)
        assert page.text("code-resend") == "Send a new code"
        page.press("Send a new code")
    page.wait_status("code", "We sent a new code to o")


def expect_no_secrets_in_url(page):
    url = page.url()
    assert "#" not in url and "token" not in url and not re.search(r"\d{6}", url), url


def test_activation_whole_flow(world, main_server, page):
    company = world.company("activation")
    company.add("admin", "admin")
    company.add("dash", "member", dashboard_access=True)
    company.add("phone", "member")
    log_in(page, main_server, company.owner, company.password)

    page.wait_screen("home")
    page.wait_text("home-company", re.escape(company.name))
    assert "Off" in page.text("home-2fa")
    page.shot("home")

    page.press("My Company: Security")
    page.wait_screen("security")
    page.wait_text("security-state", "^Off")
    assert not page.shown("security-disable")
    page.shot("security-off")

    page.press("Enable Two-factor Authentication")
    assert page.wait_screen("protect") == "Protect your company accounts"
    page.shot("protect")

    page.press("Start")
    assert page.wait_screen("code") == "Enter the code"
    assert re.match(r"^o\*+@", page.text("code-hint")), page.text("code-hint")
    page.wait_text("code-delivery", "has been sent")
    page.wait_text("code-expiry", r"expires in (9|10):\d\d")
    assert page.text("code-attempts") == "5 tries left for this code."
    assert page.text("code-resends") == "3 new codes left."
    page.shot("activation-code")

    code = world.mailbox.next_code(company.owner)
    enter_code(page, code, submit="Next")
    page.wait_screen("enable")
    # Owner, admin and the member with dashboard access; not the phone-app member.
    page.wait_text("enable-count", "3 people")
    page.shot("enable-confirm")

    page.press("Enable")
    page.wait_screen("security")
    page.wait_status("security", "Two-factor authentication is on")
    page.wait_text("security-state", "^On since")
    assert page.shown("security-disable")
    assert not page.shown("security-enable")
    page.wait_text("events-body", "Two-factor authentication turned on")
    page.shot("security-on")
    expect_no_secrets_in_url(page)


def test_login_with_code(world, main_server, page):
    company = world.company("login")
    company.enable_two_factor(main_server, world.mailbox)
    log_in(page, main_server, company.owner, company.password)

    assert page.wait_screen("code") == "Check your email"
    assert re.match(r"^o\*+@", page.text("code-hint"))
    page.wait_text("code-delivery", "has been sent")
    first = page.wait_text("code-expiry", r"The code expires in \d+:\d\d \(at [^)]+\)")
    # The countdown is live.
    page.wait(lambda: page.text("code-expiry") != first, "the expiry countdown to move", timeout=5)
    assert page.text("code-attempts") == "5 tries left for this code."
    assert page.text("code-resends") == "3 new codes left."
    field = page.el("code-input")
    assert field.get_attribute("autocomplete") == "one-time-code"
    assert field.get_attribute("inputmode") == "numeric"
    page.shot("code")

    code = world.mailbox.next_code(company.owner)
    # Pasted the way an email client shows it: with a space in the middle.
    enter_code(page, f"{code[:3]} {code[3:]}")
    page.wait_screen("home")
    page.wait_text("home-session", "confirmed with a second step")
    page.wait_text("home-2fa", "^On")
    page.shot("home")
    expect_no_secrets_in_url(page)
    storage = page.session_storage()
    assert code not in storage

    page.press("Log out")
    page.wait_screen("login")
    page.wait_status("login", "logged out")
    assert page.session_storage() == "{}"
    page.shot("logged-out")


def test_wrong_code(world, main_server, page):
    company, code = code_login(world, main_server, page, "wrong")

    enter_code(page, wrong_code(code))
    page.wait_error("code", r"That code is not right\. 4 tries left")
    page.wait_text("code-attempts", "^4 tries left for this code")
    assert page.el("code-input").get_attribute("value") == ""
    assert page.focused_id() == "code-input"
    page.shot("wrong-code")

    enter_code(page, f"{code[:3]}-{code[3:]}")
    page.wait_screen("home")
    page.shot("home")


def test_expired_code(world, quick_server, page):
    company = world.company("expired")
    company.enable_two_factor(quick_server, world.mailbox)
    log_in(page, quick_server, company.owner, company.password)
    page.wait_screen("code")
    world.mailbox.next_code(company.owner)
    page.wait_text("code-expiry", "expires in")
    page.shot("code")

    # The code lives 20 s on this server: the countdown reaches its end.
    page.wait_text("code-expiry", "^This code has expired", timeout=30)
    assert not page.el("code-submit").is_enabled()
    page.wait(lambda: page.el("code-resend").is_enabled(), "Send a new code to be available")
    page.shot("expired")

    send_new_code(page)
    page.wait_text("code-resends", "No new codes left")
    page.wait_text("code-expiry", "expires in")
    new = world.mailbox.next_code(company.owner)
    page.shot("new-code")
    enter_code(page, new)
    page.wait_screen("home")
    page.shot("home")


def test_resend_countdown(world, main_server, page):
    company, _ = code_login(world, main_server, page, "resend")

    # 30 s between codes on this server: asking at once is refused, and the button counts down.
    page.press("Send a new code")
    label = page.wait_text("code-resend", r"^Send a new code \(\d+ s\)$")
    assert not page.el("code-resend").is_enabled()
    seconds = int(re.search(r"\((\d+) s\)", label).group(1))
    assert 20 <= seconds <= 30, label
    page.wait_error("code", r"you can ask again in \d+ seconds")
    page.shot("cooldown")
    page.wait(lambda: page.text("code-resend") != label, "the countdown to move", timeout=5)
    later = int(re.search(r"\((\d+) s\)", page.text("code-resend")).group(1))
    assert later < seconds
    # Nothing was sent: still three new codes.
    assert page.text("code-resends") == "3 new codes left."


def test_resend_sends_a_new_code(world, quick_server, page):
    company, old = code_login(world, quick_server, page, "resent")

    # 4 s between codes on this server: a press within them shows the countdown, and the
    # button comes back by itself.
    send_new_code(page)
    page.wait_text("code-resends", "^No new codes left")
    assert not page.el("code-resend").is_enabled()
    new = world.mailbox.next_code(company.owner)
    page.shot("resent")
    if new != old:
        enter_code(page, old)
        page.wait_error("code", "not right")
    enter_code(page, new)
    page.wait_screen("home")
    page.shot("home")


def test_closed_challenge(world, quick_server, page):
    company, _ = code_login(world, quick_server, page, "closed")
    # This server allows one new code, 4 s after the last: ask for it (again after the cooldown
    # if the first press came too early), then enter the new code wrongly five times.
    send_new_code(page)
    code = world.mailbox.next_code(company.owner)
    bad = wrong_code(code)
    for left in (4, 3, 2, 1):
        enter_code(page, bad)
        page.wait_text("code-attempts", f"^{left} tr")
    enter_code(page, bad)
    page.wait_text("code-closed-title", "Please start again")
    page.wait_error("code", "This login cannot go on")
    assert "contact your company's administrator" in page.text("code-closed")
    assert not page.shown("code-form")
    page.shot("closed")

    page.press("Log in again")
    page.wait_screen("login")
    page.shot("login")
    assert page.el("login-email").get_attribute("value") == company.owner


def test_disable_as_owner(world, main_server, page):
    company = world.company("disable")
    company.enable_two_factor(main_server, world.mailbox)
    log_in(page, main_server, company.owner, company.password)
    page.wait_screen("code")
    page.shot("code")
    enter_code(page, world.mailbox.next_code(company.owner))
    page.wait_screen("home")
    page.shot("home")
    page.press("My Company: Security")
    page.wait_screen("security")
    page.wait_text("security-state", "^On since")
    page.shot("security")

    page.press("Disable Two-factor Authentication")
    page.wait(lambda: page.el("disable-dialog").is_displayed(), "the confirmation dialog")
    assert page.focused_id() == "disable-password"
    assert company.name in page.text("disable-dialog")
    page.shot("confirm")

    page.fill("disable-password", "not-the-password")
    page.press("Disable", within="disable-dialog")
    page.wait_text("disable-error", "That password is not right")
    assert page.el("disable-dialog").is_displayed()
    page.shot("wrong-password")

    # Escape (or Cancel) keeps everything as it was, and focus goes back to the button.
    page.keys(Keys.ESCAPE)
    page.wait(lambda: not page.el("disable-dialog").is_displayed(), "the dialog to close")
    assert page.focused_id() == "security-disable"
    page.keys(Keys.ENTER)
    page.wait(lambda: page.el("disable-dialog").is_displayed(), "the dialog, opened from the keyboard")
    page.press("Cancel", within="disable-dialog")
    page.wait(lambda: not page.el("disable-dialog").is_displayed(), "the dialog to close")

    page.press("Disable Two-factor Authentication")
    page.fill("disable-password", company.password)
    page.press("Disable", within="disable-dialog")
    page.wait_screen("security")
    page.shot("security")
    page.wait_status("security", "Two-factor authentication is off")
    page.wait_text("security-state", "^Off")
    assert page.shown("security-enable")
    assert not page.shown("security-disable")
    page.wait_text("events-body", "Two-factor authentication turned off")
    page.shot("off")


def test_admin_sees_no_disable(world, main_server, page):
    company = world.company("admin")
    admin = company.add("admin", "admin", name="Ada Admin")
    company.enable_two_factor(main_server, world.mailbox)
    log_in(page, main_server, admin, company.password)
    page.wait_screen("code")
    page.shot("code")
    enter_code(page, world.mailbox.next_code(admin))
    page.wait_screen("home")
    page.shot("home")
    page.wait_text("home-role", "Admin")
    page.press("My Company: Security")
    page.wait_screen("security")
    page.shot("security")
    page.wait_text("security-state", "^On since")
    assert not page.shown("security-disable")
    assert not page.shown("security-enable")
    assert page.shown("security-owner-only")
    page.wait_text("events-body", "Logged in")
    page.shot("security-admin")


def test_phone_app_member_is_told_why(world, main_server, page):
    company = world.company("phone")
    member = company.add("phone", "member")
    log_in(page, main_server, member, company.password)
    text = page.wait_error("login", "phone app")
    assert "dashboard access" in text
    page.shot("no-dashboard-access")


def test_keyboard_only_login(world, main_server, page):
    company = world.company("keyboard")
    company.enable_two_factor(main_server, world.mailbox)
    page.open(main_server.url + "/")
    page.wait_screen("login")
    page.shot("login")
    page.tab_to("login-email")
    page.keys(company.owner)
    page.keys(Keys.TAB)
    assert page.focused_id() == "login-password"
    page.keys(company.password, Keys.ENTER)

    page.wait_screen("code")
    page.shot("code")
    page.tab_to("code-input", limit=3)
    page.keys(world.mailbox.next_code(company.owner), Keys.ENTER)

    page.wait_screen("home")
    page.shot("home")
    # The navigation comes before the heading: Shift+TAB reaches Log out.
    page.tab_to("logout", limit=3, backwards=True)
    page.keys(Keys.ENTER)
    page.wait_screen("login")
    page.shot("logged-out")


def test_events_paging(world, main_server, page):
    company = world.company("events")
    # Enough events for two pages: a few logins, each with its events.
    for _ in range(4):
        status, _, body = main_server.api("POST", "/v1/auth/login", {"email": company.owner, "password": company.password, "client": "dashboard"})
        assert status == 200, body
    main_server.api("POST", "/v1/auth/login", {"email": company.owner, "password": "wrong-password", "client": "dashboard"})
    log_in(page, main_server, company.owner, company.password)
    page.wait_screen("home")
    page.shot("home")
    page.press("My Company: Security")
    page.wait_screen("security")
    page.shot("security")
    page.wait_text("events-body", "Wrong password")
    assert "Right password" in page.text("events-body") or "Logged in" in page.text("events-body")
    assert not page.el("events-newer").is_enabled()
    page.wait(lambda: page.el("events-older").is_enabled(), "an older page")
    first = page.text("events-body")
    page.shot("events-first-page")
    page.press("Older events")
    page.wait(lambda: page.text("events-body") != first, "the older page")
    assert page.el("events-newer").is_enabled()
    page.shot("events-older-page")
    page.press("Newer events")
    page.wait(lambda: page.text("events-body") == first, "the newest page again")


def test_narrow_screen(world, main_server, browser_factory):
    """Readable at 375 px: nothing wider than the screen, on every screen of a 2FA login."""
    page = browser_factory(width=375, height=812)
    company = world.company("narrow")
    company.enable_two_factor(main_server, world.mailbox)

    def fits():
        return page.driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")

    log_in(page, main_server, company.owner, company.password)
    assert fits()
    page.wait_screen("code")
    page.wait_text("code-delivery", "has been sent")
    assert fits()
    page.shot("code")
    enter_code(page, world.mailbox.next_code(company.owner))
    page.wait_screen("home")
    assert fits()
    page.shot("home")
    page.press("My Company: Security")
    page.wait_screen("security")
    page.wait_text("events-body", "Logged in")
    assert fits()
    page.shot("security")


def test_revoked_session_goes_back_to_login(world, main_server, page):
    """Turning 2FA on ends the sessions that did not pass a code: the next click says so."""
    company = world.company("revoked")
    admin = company.add("admin", "admin")
    log_in(page, main_server, admin, company.password)
    page.wait_screen("home")
    page.shot("home")
    company.enable_two_factor(main_server, world.mailbox)

    page.press("My Company: Security")
    page.wait_screen("login")
    page.wait_error("login", "Your session has ended")
    assert not page.shown("nav")
    assert page.session_storage() == "{}"
    page.shot("session-ended")


def test_delivery_states(world, quick_server, page):
    """With no worker running the page says the email is on its way; when the code expires
    before anything could send it, the page says that too (delivery `expired`)."""
    company = world.company("delivery")
    company.enable_two_factor(quick_server, world.mailbox)
    start_worker = world.restart_worker()
    try:
        log_in(page, quick_server, company.owner, company.password)
        page.wait_screen("code")
        page.wait_text("code-delivery", "^Sending the email")
        page.shot("sending")
        page.wait_text("code-expiry", "^This code has expired", timeout=30)
        # The page shows times to the second; the database's clock decides. Start the worker
        # only once the database, too, holds the code expired.
        page.wait(lambda: world.cluster.query(
            "SELECT count(*) FROM support.challenges WHERE user_email = lower(:'v1') AND code_expires_at > now()",
            company.owner) == "0", "the code to expire in the database", timeout=5)
    finally:
        start_worker()
    page.wait_text("code-delivery", "could not be sent before its code expired", timeout=30)
    assert page.el("code-resend").is_enabled()
    page.shot("expired-before-sent")
