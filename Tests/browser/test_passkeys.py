"""Passkeys in Chromium (SPEC §13, issue 26) with Chromium's virtual authenticator (CTAP2,
internal, resident keys, user verification): adding one on the sign-in methods screen,
logging in with it from the method chooser, the browser's and the server's refusals said in
words (another address, a cloned authenticator, another company's passkey). The "Passkeys
only" policy and resetting someone's methods are in test_passkey_policy.py.

The dashboard is opened at http://localhost:PORT, a secure context for Chromium, with the
server's PUBLIC_URL the same address: the relying party ID is `localhost`. Screenshots of every
screen under .build/screenshots/<test>/, each checked with axe-core."""
import base64
import json
import re

from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import (
    Credential,
    VirtualAuthenticatorOptions,
)

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


def b64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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
    authenticator(page)
    code_login(world, passkey_server, page, member, company.password)
    page.wait_screen("home")
    open_methods(page)
    add_passkey(page, "Laptop")
    page.wait_status("methods", "is added")
    log_out(page)

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


def test_another_address_is_refused(world, passkey_server, passkey_elsewhere, browser_factory):
    company, users = policy_company(world, passkey_server, "origin", "any", member="member")
    member = users["member"]

    # 127.0.0.1 is the same server, but not `localhost`: the browser itself refuses the RP ID.
    page = browser_factory(label="ip")
    authenticator(page)
    page.open(passkey_server.url.replace("localhost", "127.0.0.1") + "/")
    page.wait_screen("login")
    page.fill("login-email", member)
    page.fill("login-password", company.password)
    page.press("Log in", within="login-form")
    page.wait_screen("code")
    enter_code(page, world.mailbox.next_code(member))
    page.wait_screen("home")
    open_methods(page)
    add_passkey(page, "Laptop")
    page.wait_error("addpasskey", "Passkeys are not allowed on this address")
    page.shot("security-error")
    assert page.driver.get_credentials() == []

    # http://localhost:OTHER is fine for the browser (RP ID localhost), but not one of the
    # company's origins: the server checks clientDataJSON.origin and refuses.
    other = browser_factory(label="elsewhere")
    authenticator(other)
    code_login(world, passkey_elsewhere, other, member, company.password)
    other.wait_screen("home")
    open_methods(other)
    add_passkey(other, "Laptop")
    other.wait_error("addpasskey", "That passkey was not added: it was made on an address your company does not use")
    other.shot("origin-not-allowed")
    reason = world.cluster.query(
        "SELECT detail->>'reason' FROM events WHERE type = 'passkey.rejected' AND company_id = :'v1' ORDER BY id DESC LIMIT 1", company.id)
    assert reason == "origin_not_allowed"


def test_a_cloned_authenticator_is_refused(world, passkey_server, page):
    company, users = policy_company(world, passkey_server, "clone", "any", member="member")
    member = users["member"]
    authenticator(page)
    code_login(world, passkey_server, page, member, company.password)
    page.wait_screen("home")
    open_methods(page)
    add_passkey(page, "Laptop")
    page.wait_status("methods", "is added")
    exported = page.driver.get_credentials()[0]
    log_out(page)

    passkey_login(page, passkey_server, member, company.password)
    page.wait_screen("home")
    assert page.driver.get_credentials()[0].sign_count > exported.sign_count
    log_out(page)

    # A copy of the key as it was before that login, in another authenticator: its counter
    # is behind the one the server saw.
    page.driver.remove_virtual_authenticator()
    authenticator(page)
    page.driver.add_credential(Credential.create_resident_credential(
        b64(exported.id), "localhost", b64(exported.user_handle), b64(exported.private_key), exported.sign_count))
    passkey_login(page, passkey_server, member, company.password)
    page.wait_error("code", "That passkey was not accepted")
    page.wait_error("code", "4 tries left")
    page.wait_text("code-passkey-attempts", "^4 tries left")
    page.shot("clone-refused")
    regressions = world.cluster.query(
        "SELECT count(*) FROM events WHERE type = 'passkey.counter_regression' AND company_id = :'v1'", company.id)
    assert regressions == "1"


FORCED_CEREMONY = """
const [email, password, done] = arguments;
(async () => {
  const ask = async (path, body) => {
    const answer = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
    return {status: answer.status, body: await answer.json()};
  };
  const login = await ask('/v1/auth/login', {email, password, client: 'dashboard'});
  const token = login.body.challenge.token;
  const options = (await ask('/v1/auth/login/passkey/options', {challenge_token: token})).body.options;
  // Whatever this browser holds for the relying party, not only the user's own passkeys.
  options.allowCredentials = [];
  const credential = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)});
  done({login, verify: await ask('/v1/auth/login/passkey/verify', {challenge_token: token, credential: credential.toJSON()})});
})().catch((error) => done({error: String(error)}));
"""


def test_a_passkey_of_one_company_is_useless_at_another(world, passkey_server, browser_factory):
    first, first_users = policy_company(world, passkey_server, "first", "any", member="member")
    second, second_users = policy_company(world, passkey_server, "second", "any", member="member")
    page = browser_factory(label="first")
    authenticator(page)
    code_login(world, passkey_server, page, first_users["member"], first.password)
    page.wait_screen("home")
    open_methods(page)
    add_passkey(page, "Laptop")
    page.wait_status("methods", "is added")
    log_out(page)

    other = browser_factory(label="second")
    authenticator(other)
    code_login(world, passkey_server, other, second_users["member"], second.password)
    other.wait_screen("home")
    open_methods(other)
    add_passkey(other, "Phone")
    other.wait_status("methods", "is added")

    # The second company's user, in the browser that holds only the first company's passkey:
    # the browser has nothing to offer for this login's passkeys.
    passkey_login(page, passkey_server, second_users["member"], second.password)
    page.wait_error("code", "cancelled or timed out, or this device has no passkey for this account")
    page.shot("no-passkey-here")

    # Forced: the first company's passkey signs the second company's login. The server refuses.
    page.driver.set_script_timeout(30)
    outcome = page.driver.execute_async_script(FORCED_CEREMONY, second_users["member"], second.password)
    assert "error" not in outcome, outcome
    assert outcome["login"]["body"]["challenge"]["method"] == "passkey", outcome
    assert outcome["verify"]["status"] == 401, outcome
    assert outcome["verify"]["body"]["error"]["code"] == "invalid_passkey", outcome
    assert "session" not in json.dumps(outcome["verify"]["body"])
