"""The "Passkeys only (phishing-resistant)" policy in Chromium (SPEC §13, issue 26): the owner's
choice with its count of people without a passkey and the warning for an owner without one; a
user without a passkey logging in once with an email code, adding a passkey on the only screen
that session may see, then logging in with it; an owner resetting someone's sign-in methods
after their one email login was used. Chromium's virtual authenticator, as in test_passkeys.py."""
import re

from selenium.webdriver.common.by import By

from test_dashboard import enter_code, log_in
from test_login_methods import api_login
from test_passkeys import (
    add_passkey,
    authenticator,
    code_login,
    log_out,
    open_methods,
    passkey_login,
    policy_company,
)


def fits(page):
    """Whether the page fits its 375 px without scrolling sideways."""
    return page.driver.execute_script("return document.documentElement.scrollWidth") <= 375


def test_passkeys_only_leads_through_one_email_login_to_adding_one(world, passkey_server, browser_factory):
    company, users = policy_company(world, passkey_server, "phishing", "any", member="member", admin="admin")
    member = users["member"]
    owner = browser_factory(label="owner")
    authenticator(owner)
    code_login(world, passkey_server, owner, company.owner, company.password)
    owner.wait_screen("home")

    # The owner picks "Passkeys only" without a passkey of their own: warned, and told who has none.
    owner.press("My Company: Security")
    owner.wait_screen("security")
    owner.el("policy-methods-passkey").click()
    owner.wait_text("policy-without-passkey", "^3 people have no passkey yet and will be asked to add one at their next login")
    owner.wait_text("policy-own-passkey", "You have no passkey yourself")
    owner.shot("policy-warning")
    owner.press("Sign-in methods", within="policy-own-passkey")
    owner.wait_screen("methods")
    add_passkey(owner, "Owner laptop")
    owner.wait_status("methods", "is added")
    owner.press("My Company: Security")
    owner.wait_screen("security")
    owner.el("policy-methods-passkey").click()
    owner.wait_text("policy-without-passkey", "^2 people have no passkey yet")
    assert not owner.shown("policy-own-passkey")
    owner.fill("policy-password", company.password)
    owner.press("Save the policy")
    owner.wait_status("security", "The sign-in policy is saved")
    owner.wait_text("policy-state", r"passkeys only \(phishing-resistant\)")
    owner.shot("policy-saved")

    # The member has no passkey: one email-code login, which leads only to adding one.
    page = browser_factory(width=375, height=800, label="member")  # a phone
    authenticator(page)
    log_in(page, passkey_server, member, company.password)
    page.wait_screen("code")
    page.wait_text("code-title", "^Check your email$")
    assert not page.shown("code-use-passkey")
    page.shot("enrolment-code")
    enter_code(page, world.mailbox.next_code(member))
    assert page.wait_screen("enrol") == "Your company requires a passkey: add one now"
    assert not page.shown("nav")
    page.shot("enrolment")
    assert fits(page)
    # Nothing else is open to this session.
    answer = page.driver.execute_async_script(
        "const done = arguments[0]; const s = JSON.parse(sessionStorage.getItem('tollgate.session'));"
        "fetch('/v1/me/sessions', {headers: {Authorization: 'Bearer ' + s.token}}).then(async (r) => done([r.status, await r.json()]));")
    assert answer[0] == 403 and answer[1]["error"]["code"] == "passkey_enrollment_required", answer
    page.press("Add a passkey", within="enrol-form")
    page.wait_error("enrol", "Give the passkey a name")
    page.fill("enrol-name", "Work laptop")
    page.press("Add a passkey", within="enrol-form")
    page.wait_text("enrol-done-title", "^Passkey added — log in again with it$")
    assert not page.shown("enrol-form")
    page.shot("enrolment-done")
    page.press("Log out", within="screen-enrol")
    page.wait_screen("login")
    page.wait_status("login", "use your new passkey")

    # Now only the passkey is offered.
    passkey_login(page, passkey_server, member, company.password)
    page.wait_screen("home")
    page.shot("home-with-passkey")
    # The only passkey cannot be removed while the company requires one.
    open_methods(page)
    page.driver.find_element(By.CSS_SELECTOR, "button[aria-label='Remove Work laptop']").click()
    page.wait(lambda: page.shown("remove-dialog"), "the confirmation")
    page.press("Remove", within="remove-form")
    page.wait_text("remove-error", "Your company requires a passkey, and this is your last one")
    page.shot("last-passkey")
    page.press("Cancel", within="remove-form")
    log_out(page)
    log_in(page, passkey_server, member, company.password)
    page.wait_text("code-title", "^Use your passkey$")
    assert not page.shown("code-switch-row")
    page.shot("passkey-only-chooser")


def test_an_owner_resets_sign_in_methods(world, passkey_server, browser_factory):
    company, users = policy_company(world, passkey_server, "reset", "any", member="member", admin="admin")
    member = users["member"]

    # An admin sees everyone, and may not reset an owner (nor themselves).
    admin = api_login(passkey_server, world.mailbox, users["admin"], company.password)
    status, _, body = passkey_server.api("GET", "/v1/company/users", None, admin)
    assert status == 200 and {user["email"] for user in body["users"]} == {company.owner, member, users["admin"]}, body
    ids = {user["email"]: user["id"] for user in body["users"]}
    for who in (company.owner, users["admin"]):
        status, _, body = passkey_server.api("POST", f"/v1/company/users/{ids[who]}/reset-methods", {"password": company.password}, admin)
        assert status == 403 and body["error"]["code"] == "forbidden", body

    owner = browser_factory(width=375, height=800, label="owner")  # a phone
    authenticator(owner)
    code_login(world, passkey_server, owner, company.owner, company.password)
    owner.wait_screen("home")
    open_methods(owner)
    add_passkey(owner, "Owner laptop")
    owner.wait_status("methods", "is added")
    owner.press("My Company: Security")
    owner.wait_screen("security")
    owner.el("policy-methods-passkey").click()
    owner.fill("policy-password", company.password)
    owner.press("Save the policy")
    owner.wait_status("security", "The sign-in policy is saved")

    # The member used their one email login and left without adding a passkey.
    page = browser_factory(label="member")
    authenticator(page)
    log_in(page, passkey_server, member, company.password)
    page.wait_screen("code")
    enter_code(page, world.mailbox.next_code(member))
    page.wait_screen("enrol")
    page.press("Log out", within="screen-enrol")
    page.wait_screen("login")
    log_in(page, passkey_server, member, company.password)
    page.wait_error("login", "Ask an owner or admin of your company to reset your sign-in methods")
    page.shot("passkey-required")

    # The owner resets them, confirming with the password.
    owner.press("People")
    owner.wait_screen("people")
    owner.wait_text("people-body", re.escape(member))
    mine = [row for row in owner.driver.find_elements(By.CSS_SELECTOR, "#people-body tr") if company.owner in row.text][0]
    assert "You" in mine.text and not mine.find_elements(By.TAG_NAME, "button")
    owner.shot("people")
    assert fits(owner)
    owner.driver.find_element(By.CSS_SELECTOR, f"button[aria-label='Reset the sign-in methods of {member}']").click()
    owner.wait(lambda: owner.shown("reset-dialog"), "the confirmation")
    owner.shot("reset-confirm")
    owner.fill("reset-methods-password", "not-the-password")
    owner.press("Reset sign-in methods", within="reset-methods-form")
    owner.wait_text("reset-methods-error", "That password is not right")
    owner.fill("reset-methods-password", company.password)
    owner.press("Reset sign-in methods", within="reset-methods-form")
    owner.wait_status("people", f"The sign-in methods of {re.escape(member)} are reset")
    owner.shot("people-reset")

    # The member's one email login is back: it leads to adding a passkey.
    log_in(page, passkey_server, member, company.password)
    page.wait_screen("code")
    enter_code(page, world.mailbox.next_code(member))
    page.wait_screen("enrol")
