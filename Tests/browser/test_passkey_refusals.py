"""Passkeys refused in Chromium (SPEC §13, issue 26), each said in words: a page on another
address (the browser's SecurityError at 127.0.0.1, the server's origin_not_allowed for a
localhost origin the company does not use), a cloned authenticator whose counter went back,
a forged key refused until the login's tries are gone, and one company's passkey at another
company. Chromium's virtual authenticator and the
helpers of test_passkeys.py."""
import base64
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from selenium.webdriver.common.virtual_authenticator import Credential

from test_dashboard import enter_code
from test_login_methods import set_policy
from test_passkeys import (
    add_passkey,
    add_passkey_after_code_login,
    authenticator,
    code_login,
    log_out,
    open_methods,
    passkey_login,
    policy_company,
)


def b64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


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
    add_passkey_after_code_login(world, passkey_server, page, company, member)
    exported = page.driver.get_credentials()[0]

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


def test_a_forged_passkey_uses_up_a_passkey_only_login(world, passkey_server, page):
    """The passkey's id with another private key: every signature is wrong. Under Passkeys only
    there is no email to fall back on, so the fifth refusal ends the login."""
    company, users = policy_company(world, passkey_server, "forged", "any", member="member")
    member = users["member"]
    add_passkey_after_code_login(world, passkey_server, page, company, member)
    set_policy(passkey_server, world.mailbox, company, methods="phishing_resistant")

    real = page.driver.get_credentials()[0]
    other_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    page.driver.remove_all_credentials()
    page.driver.add_credential(Credential.create_resident_credential(
        b64(real.id), "localhost", b64(real.user_handle), other_key, real.sign_count + 10))

    passkey_login(page, passkey_server, member, company.password)
    for left in (4, 3, 2, 1):
        page.wait_text("code-passkey-attempts", f"^{left} tr")
        if left > 1:
            page.press("Use your passkey")
    page.shot("one-try-left")
    page.press("Use your passkey")
    page.wait_error("code", "This login cannot go on. A passkey was refused too many times.")
    page.wait_text("code-closed-text", "then use your passkey")
    page.shot("passkey-login-closed")


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
