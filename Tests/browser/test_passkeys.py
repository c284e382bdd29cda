"""Passkeys in Chromium (SPEC §13, issue 26) with Chromium's virtual authenticator (CTAP2,
internal, resident keys, user verification): adding one on the sign-in methods screen,
logging in with it from the method chooser (remembering the browser too), the password asked
when the second step is not recent, a browser without the Level 3 JSON helpers. Refusals
(another address, a cloned authenticator, another company's passkey) are in
test_passkey_refusals.py; the "Passkeys only" policy and resets in test_passkey_policy.py.

The dashboard is opened at http://localhost:PORT, a secure context for Chromium, with the
server's PUBLIC_URL the same address: the relying party ID is `localhost`. Screenshots of every
screen under .build/screenshots/<test>/, each checked with axe-core."""
import re

from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions

from test_dashboard import enter_code, expect_no_secrets_in_url, log_in
from test_login_methods import login_codes_queued, set_policy
from test_methods import age_sessions, method_names


def authenticator(page):
    """A platform authenticator with resident keys that verifies its user, in this Chromium."""
    options = VirtualAuthenticatorOptions(
        protocol=VirtualAuthenticatorOptions.Protocol.CTAP2,
        transport=VirtualAuthenticatorOptions.Transport.INTERNAL,
        has_resident_key=True,
        has_user_verification=True,
        is_user_verified=True,
    )
    page.driver.add_virtual_authenticator(options)


def policy_company(world, server, label, methods, **users):
    """A company with 2FA on, the given policy, and users by role (`member="member"`)."""
    company = world.company(label)
    made = {who: company.add(who, role, dashboard_access=True) for who, role in users.items()}
    company.enable_two_factor(server, world.mailbox)
    if methods != "email":
        set_policy(server, world.mailbox, company, methods=methods)
    return company, made


def code_login(world, server, page, email, password):
    """Logs in with the password and the emailed code (the company offers no passkey yet)."""
    log_in(page, server, email, password)
    page.wait_screen("code")
    enter_code(page, world.mailbox.next_code(email))


def add_passkey(page, name, shot=None):
    """From the methods screen: "Add a passkey", a name, the browser's dialog (the virtual
    authenticator answers at once). Leaves the page where the answer led."""
    page.press("Add a passkey", within="screen-methods")
    page.wait_screen("addpasskey")
    if shot:
        page.shot(shot)
    page.fill("addpasskey-name", name)
    page.press("Add a passkey", within="addpasskey-form")


def open_methods(page):
    page.press("Sign-in methods")
    page.wait_screen("methods")
    page.wait(lambda: method_names(page), "the list of methods")


def passkey_login(page, server, email, password):
    """Password, then the chooser opening on "Use your passkey", pressed."""
    log_in(page, server, email, password)
    page.wait_screen("code")
    page.wait_text("code-title", "^Use your passkey$")
    page.press("Use your passkey")


def log_out(page):
    page.press("Log out")
    page.wait_screen("login")


def add_passkey_after_code_login(world, server, page, company, member):
    """The member logs in with an email code, adds a passkey named Laptop on the methods screen
    and logs out again."""
    authenticator(page)
    code_login(world, server, page, member, company.password)
    page.wait_screen("home")
    open_methods(page)
    add_passkey(page, "Laptop")
    page.wait_status("methods", "is added")
    log_out(page)


def test_add_a_passkey_then_log_in_with_it(world, passkey_server, page):
    company, users = policy_company(world, passkey_server, "passkey", "any", member="member")
    member = users["member"]
    authenticator(page)
    code_login(world, passkey_server, page, member, company.password)
    page.wait_screen("home")
    open_methods(page)
    assert page.shown("methods-add-passkey")
    page.shot("methods-before")

    add_passkey(page, "Work laptop", shot="add-name")
    page.wait_screen("methods")
    page.wait_status("methods", "“Work laptop” is added")
    page.wait(lambda: len(method_names(page)) == 2, "the passkey in the list")
    assert method_names(page) == [f"Email to {member}", "Work laptop"]
    assert "Passkey. Added" in page.text("methods-list") and "Not used to log in yet" in page.text("methods-list")
    page.shot("methods-with-passkey")
    stored = page.driver.get_credentials()
    assert len(stored) == 1 and stored[0].rp_id == "localhost" and stored[0].is_resident_credential

    # The same authenticator again: the browser refuses (excludeCredentials), said in words.
    add_passkey(page, "Same laptop")
    page.wait_error("addpasskey", "already registered")
    page.shot("add-again-refused")
    page.press("Cancel", within="addpasskey-form")
    page.wait_screen("methods")
    log_out(page)

    # The next login opens on the passkey; nothing is mailed; email stays one press away.
    codes_before = login_codes_queued(world, member)
    log_in(page, passkey_server, member, company.password)
    page.wait_screen("code")
    page.wait_text("code-title", "^Use your passkey$")
    assert page.shown("code-use-email") and not page.shown("code-form") and not page.shown("code-resend")
    assert login_codes_queued(world, member) == codes_before
    page.shot("chooser-passkey")
    page.press("Use your passkey")
    page.wait_screen("home")
    expect_no_secrets_in_url(page)
    assert page.driver.get_credentials()[0].sign_count > stored[0].sign_count
    open_methods(page)
    page.wait(lambda: "Last used" in page.text("methods-list"), "the passkey's last use")
    page.shot("methods-last-used")
    log_out(page)

    # "Use email instead" still works from the passkey screen.
    log_in(page, passkey_server, member, company.password)
    page.wait_text("code-title", "^Use your passkey$")
    page.press("Use email instead")
    page.wait_status("code", re.escape("We sent a code to m"))
    assert page.shown("code-use-passkey")
    page.shot("email-instead")
    enter_code(page, world.mailbox.next_code(member))
    page.wait_screen("home")

    # Removing it, with a confirmation.
    open_methods(page)
    page.driver.find_element(By.CSS_SELECTOR, "button[aria-label='Remove Work laptop']").click()
    page.wait(lambda: page.shown("remove-dialog"), "the confirmation")
    assert "no longer log you in" in page.text("remove-text")
    page.shot("remove-confirm")
    page.press("Remove", within="remove-form")
    page.wait_status("methods", "“Work laptop” was removed. It no longer logs you in.")


HIDE_LEVEL_3_HELPERS = """
delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
return [typeof PublicKeyCredential.parseCreationOptionsFromJSON, typeof PublicKeyCredential.prototype.toJSON];
"""


def test_a_browser_without_the_level_3_helpers(world, passkey_server, page):
    """Browsers older than WebAuthn Level 3 have no parse…FromJSON and no toJSON(): the page
    converts the base64url fields itself, and the server accepts what it builds."""
    company, users = policy_company(world, passkey_server, "level2", "any", member="member")
    member = users["member"]
    authenticator(page)
    code_login(world, passkey_server, page, member, company.password)
    page.wait_screen("home")
    assert page.driver.execute_script(HIDE_LEVEL_3_HELPERS) == ["undefined", "undefined"]
    open_methods(page)
    add_passkey(page, "Old browser")
    page.wait_status("methods", "“Old browser” is added")
    log_out(page)
    assert page.driver.execute_script(HIDE_LEVEL_3_HELPERS) == ["undefined", "undefined"]
    passkey_login(page, passkey_server, member, company.password)
    page.wait_screen("home")


def test_adding_a_passkey_later_asks_for_the_password(world, passkey_server, page):
    """Eleven minutes after the login's second step (as far as the server knows), adding a
    passkey needs the password, as adding an app does."""
    company, users = policy_company(world, passkey_server, "later", "any", member="member")
    member = users["member"]
    authenticator(page)
    code_login(world, passkey_server, page, member, company.password)
    page.wait_screen("home")
    age_sessions(world, member)
    open_methods(page)
    add_passkey(page, "Laptop")
    page.wait_error("addpasskey", "enter your password")
    assert page.shown("addpasskey-password-field") and page.focused_id() == "addpasskey-password"
    assert page.driver.get_credentials() == [], "no ceremony before the password"
    page.shot("password-asked")
    page.fill("addpasskey-password", "not-the-password")
    page.press("Add a passkey", within="addpasskey-form")
    page.wait_error("addpasskey", "That password is not right")
    page.fill("addpasskey-password", company.password)
    page.press("Add a passkey", within="addpasskey-form")
    page.wait_status("methods", "“Laptop” is added")


def test_a_passkey_login_can_remember_the_browser(world, passkey_server, page):
    company, users = policy_company(world, passkey_server, "rememberkey", "any", member="member")
    member = users["member"]
    set_policy(passkey_server, world.mailbox, company, ask="per_browser", remember_days=3)
    add_passkey_after_code_login(world, passkey_server, page, company, member)

    log_in(page, passkey_server, member, company.password)
    page.wait_text("code-passkey-remember-label", "^Don't ask again on this browser for 3 days$")
    page.el("code-passkey-remember").click()
    page.shot("passkey-remember")
    page.press("Use your passkey")
    page.wait_screen("home")
    assert page.driver.execute_script("return localStorage.getItem(arguments[0])", f"tollgate.remembered.{member}")
    log_out(page)
    # Remembered: the password alone logs in on this browser.
    log_in(page, passkey_server, member, company.password)
    page.wait_screen("home")
