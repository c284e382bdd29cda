"""Password change, "forgot password", the reset page and the "this wasn't me" page (SPEC §10)
in a real Chromium against the real server and worker. Screenshots under
.build/screenshots/<test>/, each screen checked with axe-core."""
import re
from urllib.parse import urlsplit

from test_dashboard import enter_code, expect_no_secrets_in_url, log_in


def same_server(server, link):
    """The emailed link's path and fragment on the server under test (PUBLIC_URL may differ)."""
    parts = urlsplit(link)
    return f"{server.url}{parts.path}#{parts.fragment}"


def test_password_change(world, main_server, page):
    company = world.company("change")
    log_in(page, main_server, company.owner, company.password)
    page.wait_screen("home")
    page.shot("home")

    # Too short: the page says so before asking the server (whose password_rejected words
    # differ: "Choose another password: …").
    page.fill("password-current", company.password)
    page.fill("password-new", "short7!")
    page.press("Change password")
    page.wait_text("password-error", "The new password must be 8 to 128 characters.")
    page.shot("too-short")

    page.fill("password-current", "not-my-password")
    page.fill("password-new", "a-new-Password-9181")
    page.press("Change password")
    page.wait_text("password-error", "Your current password is not right")
    page.shot("wrong-current")

    page.fill("password-current", company.password)
    page.fill("password-new", "a-new-Password-9181")
    page.press("Change password")
    page.wait_text("password-status", "Your password has been changed")
    page.shot("changed")

    page.press("Log out")
    page.wait_screen("login")
    page.fill("login-email", company.owner)
    page.fill("login-password", "a-new-Password-9181")
    page.press("Log in", within="login-form")
    page.wait_screen("home")


def test_forgot_and_reset(world, main_server, page):
    company = world.company("reset")
    page.open(main_server.url + "/")
    page.wait_screen("login")
    page.press("Forgot your password?")
    page.wait_screen("forgot")
    page.shot("forgot")
    page.fill("forgot-email", company.owner)
    page.press("Send the link")
    page.wait_status("forgot", "If there is an account for that address")
    page.shot("forgot-sent")

    link = world.mailbox.next_link(company.owner, "/reset#token=")
    page.open(same_server(main_server, link))
    page.wait_screen("reset")
    expect_no_secrets_in_url(page)
    assert page.url().endswith("/reset")
    page.shot("reset")

    page.fill("reset-password", "short7!")
    page.fill("reset-again", "short7!")
    page.press("Save the new password")
    page.wait_error("reset", "The new password must be 8 to 128 characters.")
    page.shot("too-short")

    page.fill("reset-password", "brand-new-Secret-5521")
    page.fill("reset-again", "brand-new-Secret-5522")
    page.press("Save the new password")
    page.wait_error("reset", "not the same")
    page.shot("mismatch")

    page.fill("reset-password", "brand-new-Secret-5521")
    page.fill("reset-again", "brand-new-Secret-5521")
    page.press("Save the new password")
    page.wait_status("reset", "Your password has been changed")
    page.shot("reset-done")
    page.press("Go to log in")
    page.wait_screen("login")
    assert page.url() == main_server.url + "/"
    page.fill("login-email", company.owner)
    page.fill("login-password", "brand-new-Secret-5521")
    page.press("Log in", within="login-form")
    page.wait_screen("home")

    # The link works once.
    page.open(same_server(main_server, link))
    page.wait_screen("reset")
    page.fill("reset-password", "another-Secret-7781")
    page.fill("reset-again", "another-Secret-7781")
    page.press("Save the new password")
    page.wait_error("reset", "expired or has already been used")
    assert page.shown("reset-forgot")
    page.shot("used-link")


def test_not_me(world, main_server, browser_factory):
    company = world.company("notme")
    company.enable_two_factor(main_server, world.mailbox)
    someone = browser_factory(label="someone")
    log_in(someone, main_server, company.owner, company.password)
    someone.wait_screen("code")
    # Once the email is out, the page stops asking about it: the closing shows at the next step.
    someone.wait_text("code-delivery", "has been sent")
    someone.shot("code")
    code, text = world.mailbox.next_code_email(company.owner)
    match = re.search(r"https?://\S*/not-me#token=\S+", text)
    assert match, f"the login-code email has no 'this wasn't me' link:\n{text}"
    link = match.group(0)

    owner = browser_factory(label="owner")
    owner.open(same_server(main_server, link))
    owner.wait_screen("notme")
    expect_no_secrets_in_url(owner)
    assert owner.url().endswith("/not-me")
    owner.shot("not-me")
    owner.press("It wasn't me: stop this login")
    owner.wait_status("notme", "We stopped that login")
    assert owner.shown("notme-change")
    owner.shot("reported")

    # The login that was reported cannot be finished, even with the right code.
    enter_code(someone, code)
    someone.wait_text("code-closed-title", "Please start again")
    someone.shot("closed")
