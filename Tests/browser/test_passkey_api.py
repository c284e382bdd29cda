"""Passkeys through the API alone (SPEC §13, issue 26), driven by an independent peer: a software
authenticator built here from Python's fido2 encoders (CBOR, COSE keys, authenticator data,
attestation objects, client data) and keys and signatures from `cryptography`, against the real
`tollgate serve` and `worker`, PostgreSQL and SMTP. No browser: the authenticator reads the
options JSON the server sends (fido2's own parser turns its base64url into bytes) and answers
the Level 3 `toJSON()` forms a browser's `navigator.credentials.create()`/`get()` would.

What it shows: registration and login with ES256 and EdDSA passkeys; another origin refused at
both ceremonies; a cloned authenticator (a counter that went back) refused and recorded, and an
authenticator that keeps no counter accepted; one company's passkey useless at another; the
same credential twice and an eleventh passkey refused; failed assertions counting against the
login's tries; companies sharing one RP ID (`WEBAUTHN_RP_ID`), each allowed only its own
dashboard's origin; and the `phishing_resistant` policy from the enrollment login to an owner's
reset.

The server runs with `PUBLIC_URL=http://localhost:PORT`, so the relying party ID is `localhost`
and the one allowed origin is that URL's (as in the browser tests, where Chromium treats
`localhost` as a secure context).

soft-webauthn's SoftWebauthnDevice would do the authenticator's part, but it requires fido2
below 2.0 while the fixtures' peer (Tests/fixtures/webauthn/make_fixtures.py) pins 2.2.1, and it
answers bytes and a padded `id` rather than the JSON forms; the class below is as small and
speaks JSON, and it also makes EdDSA keys.
"""
import copy
import json
import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fido2.cose import ES256, EdDSA
from fido2.utils import sha256, websafe_decode, websafe_encode
from fido2.webauthn import (
    Aaguid,
    AttestationObject,
    AttestedCredentialData,
    AuthenticationResponse,
    AuthenticatorAssertionResponse,
    AuthenticatorAttestationResponse,
    AuthenticatorData,
    CollectedClientData,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions,
    RegistrationResponse,
)

from support import deadline_loop, http
from test_methods import age_sessions

FLAG = AuthenticatorData.FLAG
OTHER_ORIGIN = "https://tollgate-login.example"


class Authenticator:
    """One passkey in software, as a security key or a phone holds it: made at the first
    `create`, then used by `get`. `counts=False` is an authenticator that keeps no signature
    counter and always sends 0 (WebAuthn allows it). Both methods take the `options` object of
    the server's answer as JSON and return the credential's JSON form."""

    def __init__(self, algorithm="ES256", counts=True):
        self.algorithm = algorithm
        self.counts = counts
        self.credential_id = os.urandom(32)
        if algorithm == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.cose = ES256.from_cryptography_key(self.private.public_key())
        elif algorithm == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.cose = EdDSA.from_cryptography_key(self.private.public_key())
        else:
            raise ValueError(algorithm)
        self.counter = 0
        self.rp_id = None
        self.user_handle = None

    @property
    def id(self):
        return websafe_encode(self.credential_id)

    def clone(self):
        """A copy with the same key and counter: what an attacker who extracted the key holds."""
        return copy.deepcopy(self)

    def sign(self, data):
        if self.algorithm == "ES256":
            return self.private.sign(data, ec.ECDSA(hashes.SHA256()))
        return self.private.sign(data)

    def create(self, options_json, origin, honour_exclude=True):
        """navigator.credentials.create(): a RegistrationResponseJSON for this credential."""
        options = PublicKeyCredentialCreationOptions.from_dict(options_json)
        algorithm = self.cose.ALGORITHM
        assert algorithm in [p.alg for p in options.pub_key_cred_params], f"{self.algorithm} not offered"
        assert options.attestation in (None, "none"), options.attestation
        excluded = [d.id for d in options.exclude_credentials or []]
        if honour_exclude:
            # A real authenticator refuses here (InvalidStateError); a test that wants the
            # server's own refusal passes honour_exclude=False.
            assert self.credential_id not in excluded, "this authenticator is excluded"
        self.rp_id = options.rp.id
        self.user_handle = options.user.id
        client_data = CollectedClientData.create(type="webauthn.create", challenge=options.challenge, origin=origin)
        credential = AttestedCredentialData.create(Aaguid.NONE, self.credential_id, self.cose)
        auth_data = AuthenticatorData.create(sha256(self.rp_id.encode()), FLAG.UP | FLAG.UV | FLAG.AT, self.counter, credential)
        response = RegistrationResponse(
            raw_id=self.credential_id,
            response=AuthenticatorAttestationResponse(
                client_data=client_data, attestation_object=AttestationObject.create("none", auth_data, {})
            ),
        )
        return dict(response)

    def get(self, options_json, origin, tamper=False, ignore_allow_list=False):
        """navigator.credentials.get(): an AuthenticationResponseJSON signed by this credential."""
        options = PublicKeyCredentialRequestOptions.from_dict(options_json)
        assert options.rp_id == self.rp_id, (options.rp_id, self.rp_id)
        allowed = [d.id for d in options.allow_credentials or []]
        if not ignore_allow_list:
            assert self.credential_id in allowed, "the server did not offer this credential"
        if self.counts:
            self.counter += 1
        client_data = CollectedClientData.create(type="webauthn.get", challenge=options.challenge, origin=origin)
        auth_data = AuthenticatorData.create(sha256(self.rp_id.encode()), FLAG.UP | FLAG.UV, self.counter)
        signature = self.sign(auth_data + client_data.hash)
        if tamper:
            middle = len(signature) // 2
            signature = signature[:middle] + bytes([signature[middle] ^ 0x01]) + signature[middle + 1 :]
        response = AuthenticationResponse(
            raw_id=self.credential_id,
            response=AuthenticatorAssertionResponse(
                client_data=client_data, authenticator_data=auth_data, signature=signature, user_handle=self.user_handle
            ),
        )
        return dict(response)


# The server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(world):
    """`localhost` in the URL makes it the relying party ID. Many logins per account here: the
    per-account limits of §5 are tested elsewhere."""
    return world.server("passkey-api", url_host="localhost", LIMIT_CHALLENGES_PER_ACCOUNT=1000,
                        LIMIT_WRONG_CODES_PER_ACCOUNT=1000)


def error(body):
    return body["error"]["code"] if isinstance(body, dict) and "error" in body else body


def start_login(server, email, password):
    status, _, body = server.api("POST", "/v1/auth/login", {"email": email, "password": password, "client": "dashboard"})
    assert status == 202, (status, body)
    return body["challenge"]


def code_login(server, mailbox, email, password):
    """A dashboard session that passed the emailed code just now (picking email when the login
    offers a passkey first). Returns (session token, the 202 challenge)."""
    challenge = start_login(server, email, password)
    if challenge["delivery"] == "not_sent":
        status, _, body = server.api("POST", "/v1/auth/login/email", {"challenge_token": challenge["token"]})
        assert status == 202, body
    status, _, body = server.api("POST", "/v1/auth/login/verify",
                                 {"challenge_token": challenge["token"], "code": mailbox.next_code(email)})
    assert status == 200, body
    return body["session"]["token"], challenge


def login_options(server, challenge_token):
    status, _, body = server.api("POST", "/v1/auth/login/passkey/options", {"challenge_token": challenge_token})
    assert status == 200, body
    return body["options"]


def assert_passkey(server, challenge_token, authenticator, origin=None, **how):
    """A fresh WebAuthn challenge for the login and the authenticator's answer: (status, body)."""
    options = login_options(server, challenge_token)
    credential = authenticator.get(options, origin or server.url, **how)
    status, _, body = server.api("POST", "/v1/auth/login/passkey/verify", {"challenge_token": challenge_token, "credential": credential})
    return status, body


def passkey_login(server, email, password, authenticator):
    challenge = start_login(server, email, password)
    assert challenge["methods"][0] == "passkey", challenge
    status, body = assert_passkey(server, challenge["token"], authenticator)
    assert status == 200, body
    return body["session"]["token"]


def registration_options(server, session, password=None):
    status, _, body = server.api("POST", "/v1/me/methods/passkeys/options", {} if password is None else {"password": password}, session)
    return status, body


def register(server, session, authenticator, name="Security key", origin=None, honour_exclude=True):
    """Options, then create, then register: (status, body) of the last step."""
    status, body = registration_options(server, session)
    assert status == 200, body
    credential = authenticator.create(body["options"], origin or server.url, honour_exclude=honour_exclude)
    status, _, body = server.api("POST", "/v1/me/methods/passkeys", {"name": name, "credential": credential}, session)
    return status, body


def set_policy(server, session, password, methods):
    status, _, body = server.api("PATCH", "/v1/company/security/policy", {"methods": methods, "password": password}, session)
    assert status == 200, body
    return body["policy"]


def events_of(server, session, kind):
    status, _, body = server.api("GET", "/v1/company/security/events?limit=100", None, session)
    assert status == 200, body
    return [event for event in body["events"] if event["type"] == kind]


def company_with_passkeys(world, server, label):
    """A company with 2FA on and the policy `any`; its owner logged out."""
    company = world.company(label)
    company.enable_two_factor(server, world.mailbox)
    session, _ = code_login(server, world.mailbox, company.owner, company.password)
    set_policy(server, session, company.password, "any")
    server.api("POST", "/v1/auth/logout", {}, session)
    world.mailbox.skip_all(company.owner)
    return company


# Registration and login ---------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_register_a_passkey_and_log_in_with_it(world, server, algorithm):
    company = company_with_passkeys(world, server, f"passkey {algorithm}")
    session, _ = code_login(server, world.mailbox, company.owner, company.password)

    # The options, as navigator.credentials.create() takes them (base64url where bytes).
    status, body = registration_options(server, session)
    assert status == 200, body
    options = body["options"]
    assert options["rp"]["id"] == "localhost" and options["rp"]["name"]
    assert len(websafe_decode(options["user"]["id"])) == 16
    assert options["user"]["name"] == company.owner and options["user"]["displayName"] == company.owner
    assert len(websafe_decode(options["challenge"])) == 32 and "=" not in options["challenge"]
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert all(p["type"] == "public-key" for p in options["pubKeyCredParams"])
    assert options["timeout"] == 300000 and options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert options["authenticatorSelection"] == {"residentKey": "preferred", "userVerification": "preferred"}

    key = Authenticator(algorithm)
    credential = key.create(options, server.url)
    status, _, body = server.api("POST", "/v1/me/methods/passkeys", {"name": "Blue key", "credential": credential}, session)
    assert status == 201, body
    method = body["method"]
    assert method["kind"] == "passkey" and method["name"] == "Blue key" and method["last_used_at"] is None
    status, _, body = server.api("GET", "/v1/me/methods", None, session)
    assert status == 200 and [(m["kind"], m["name"]) for m in body["methods"]] == [("email", "Email"), ("passkey", "Blue key")], body
    added = events_of(server, session, "method.added")
    assert added and added[0]["detail"].get("kind") == "passkey", added
    # The next registration excludes it.
    status, body = registration_options(server, session)
    assert status == 200 and body["options"]["excludeCredentials"] == [{"type": "public-key", "id": key.id}], body
    server.api("POST", "/v1/auth/logout", {}, session)

    # The login now opens on the passkey and mails nothing.
    challenge = start_login(server, company.owner, company.password)
    assert challenge["methods"][0] == "passkey" and "email" in challenge["methods"], challenge
    assert challenge["method"] == "passkey" and challenge["delivery"] == "not_sent", challenge
    options = login_options(server, challenge["token"])
    assert options["rpId"] == "localhost" and options["userVerification"] == "preferred"
    assert options["timeout"] == 300000 and len(websafe_decode(options["challenge"])) == 32
    assert options["allowCredentials"] == [{"type": "public-key", "id": key.id}], options
    credential = key.get(options, server.url)
    status, _, body = server.api("POST", "/v1/auth/login/passkey/verify", {"challenge_token": challenge["token"], "credential": credential})
    assert status == 200, body
    assert body["remembered_browser"] is None
    token = body["session"]["token"]
    status, _, me = server.api("GET", "/v1/me", None, token)
    assert status == 200 and me["session"]["two_factor_verified"] is True and me.get("enrollment_only") is False, me
    status, _, body = server.api("GET", "/v1/me/methods", None, token)
    assert body["methods"][1]["last_used_at"] is not None, body
    # The verify used the WebAuthn challenge: the same answer again opens nothing.
    status, _, body = server.api("POST", "/v1/auth/login/passkey/verify", {"challenge_token": challenge["token"], "credential": credential})
    assert status != 200, body


def test_another_origin_is_refused_at_both_ceremonies(world, server):
    """A phishing page on another site gets the user's authenticator to sign for its own origin:
    the server refuses the registration and the assertion."""
    company = company_with_passkeys(world, server, "origin")
    session, _ = code_login(server, world.mailbox, company.owner, company.password)
    key = Authenticator()
    status, body = register(server, session, key, origin=OTHER_ORIGIN)
    assert status == 400 and error(body) == "passkey_rejected" and body["error"].get("reason") == "origin_not_allowed", body
    status, _, body = server.api("GET", "/v1/me/methods", None, session)
    assert [m["kind"] for m in body["methods"]] == ["email"], body

    status, body = register(server, session, key)
    assert status == 201, body
    server.api("POST", "/v1/auth/logout", {}, session)

    challenge = start_login(server, company.owner, company.password)
    status, body = assert_passkey(server, challenge["token"], key, origin=OTHER_ORIGIN)
    assert status == 401 and error(body) == "invalid_passkey", body
    assert body["error"]["attempts_remaining"] == challenge["attempts_remaining"] - 1, body
    # The real page, a moment later, still logs in.
    status, body = assert_passkey(server, challenge["token"], key)
    assert status == 200, body


def test_a_registration_needs_its_own_fresh_ceremony(world, server):
    company = company_with_passkeys(world, server, "ceremony")
    session, _ = code_login(server, world.mailbox, company.owner, company.password)
    key = Authenticator()
    status, body = registration_options(server, session)
    stale = key.create(body["options"], server.url)
    # A session that made no options call has nothing to answer (the ceremony is the session's).
    other_session, _ = code_login(server, world.mailbox, company.owner, company.password)
    status, _, body = server.api("POST", "/v1/me/methods/passkeys", {"name": "Key", "credential": stale}, other_session)
    assert status == 400 and error(body) == "passkey_rejected" and body["error"].get("reason") == "no_ceremony", body
    # A second options call replaces the first: an answer to the first no longer fits.
    status, body = registration_options(server, session)
    assert status == 200, body
    status, _, body = server.api("POST", "/v1/me/methods/passkeys", {"name": "Key", "credential": stale}, session)
    assert status == 400 and error(body) == "passkey_rejected" and body["error"].get("reason") == "challenge_mismatch", body


def test_a_stolen_session_needs_a_recent_second_factor_or_the_password(world, server):
    """Adding a passkey keeps an attacker in after the session ends: it needs what adding an app
    needs (SPEC §13)."""
    company = company_with_passkeys(world, server, "reauth")
    session, _ = code_login(server, world.mailbox, company.owner, company.password)
    age_sessions(world, company.owner)
    status, body = registration_options(server, session)
    assert status == 403 and error(body) == "reauthentication_required", body
    status, body = registration_options(server, session, password="not-the-password")
    assert status == 403 and error(body) == "reauthentication_required", body
    status, body = registration_options(server, session, password=company.password)
    assert status == 200, body
    key = Authenticator()
    credential = key.create(body["options"], server.url)
    status, _, body = server.api("POST", "/v1/me/methods/passkeys", {"name": "Key", "credential": credential}, session)
    assert status == 201, body


# Clones, counters and other companies -------------------------------------------------------


def test_a_cloned_authenticator_is_refused_and_recorded(world, server):
    company = company_with_passkeys(world, server, "clone")
    session, _ = code_login(server, world.mailbox, company.owner, company.password)
    key = Authenticator()
    status, body = register(server, session, key)
    assert status == 201, body
    server.api("POST", "/v1/auth/logout", {}, session)

    copied = key.clone()  # counter 0, like the key when it was copied
    passkey_login(server, company.owner, company.password, key)  # counter 1
    passkey_login(server, company.owner, company.password, key)  # counter 2
    copied.counter = 1  # the clone's next signature says 2: not above the stored 2
    challenge = start_login(server, company.owner, company.password)
    status, body = assert_passkey(server, challenge["token"], copied)
    assert status == 401 and error(body) == "invalid_passkey", body

    session = passkey_login(server, company.owner, company.password, key)  # the real key goes on: 3
    recorded = events_of(server, session, "passkey.counter_regression")
    assert len(recorded) == 1, recorded
    assert recorded[0]["email"] == company.owner, recorded


def test_an_authenticator_without_a_counter_is_accepted(world, server):
    """Many authenticators (synced passkeys) send 0 every time: 0 after 0 is no regression."""
    company = company_with_passkeys(world, server, "nocounter")
    session, _ = code_login(server, world.mailbox, company.owner, company.password)
    key = Authenticator(counts=False)
    status, body = register(server, session, key)
    assert status == 201, body
    for _ in range(2):
        session = passkey_login(server, company.owner, company.password, key)
    assert events_of(server, session, "passkey.counter_regression") == []


def test_a_passkey_of_one_company_is_useless_at_another(world, server):
    first = company_with_passkeys(world, server, "tenant a")
    second = company_with_passkeys(world, server, "tenant b")
    key_a, key_b = Authenticator(), Authenticator()
    session_a, _ = code_login(server, world.mailbox, first.owner, first.password)
    assert register(server, session_a, key_a)[0] == 201
    session_b, _ = code_login(server, world.mailbox, second.owner, second.password)
    assert register(server, session_b, key_b)[0] == 201

    # B's login offers B's passkey only; A's, presented anyway, is refused and counted.
    challenge = start_login(server, second.owner, second.password)
    options = login_options(server, challenge["token"])
    assert [c["id"] for c in options["allowCredentials"]] == [key_b.id], options
    key_a.user_handle = key_b.user_handle  # even claiming B's user
    status, body = assert_passkey(server, challenge["token"], key_a, ignore_allow_list=True)
    assert status == 401 and error(body) == "invalid_passkey", body
    assert body["error"]["attempts_remaining"] == challenge["attempts_remaining"] - 1, body

    # Nor can B's owner take A's credential over by registering it.
    status, body = register(server, session_b, key_a, honour_exclude=False)
    assert status == 409 and error(body) == "passkey_already_registered", body


def test_the_same_credential_twice_and_an_eleventh_passkey_are_refused(world, server):
    company = company_with_passkeys(world, server, "limits")
    session, _ = code_login(server, world.mailbox, company.owner, company.password)
    first = Authenticator()
    assert register(server, session, first)[0] == 201
    status, body = register(server, session, first, honour_exclude=False)
    assert status == 409 and error(body) == "passkey_already_registered", body

    for number in range(2, 10):
        status, body = register(server, session, Authenticator(), name=f"Key {number}")
        assert status == 201, (number, body)
    # Two ceremonies started at nine passkeys (two sessions): the first makes ten, the second
    # is refused at registration.
    other, _ = code_login(server, world.mailbox, company.owner, company.password)
    status, early = registration_options(server, other)
    assert status == 200, early
    assert register(server, session, Authenticator(), name="Key 10")[0] == 201
    late = Authenticator().create(early["options"], server.url)
    status, _, body = server.api("POST", "/v1/me/methods/passkeys", {"name": "Key 11", "credential": late}, other)
    assert status == 409 and error(body) == "method_limit_reached", body
    # And at ten, no new ceremony starts.
    status, body = registration_options(server, session)
    assert status == 409 and error(body) == "method_limit_reached", body
    status, _, body = server.api("GET", "/v1/me/methods", None, session)
    assert len([m for m in body["methods"] if m["kind"] == "passkey"]) == 10, body


def test_failed_assertions_count_against_the_logins_tries(world, server):
    company = company_with_passkeys(world, server, "attempts")
    session, _ = code_login(server, world.mailbox, company.owner, company.password)
    key = Authenticator()
    assert register(server, session, key)[0] == 201
    server.api("POST", "/v1/auth/logout", {}, session)

    challenge = start_login(server, company.owner, company.password)
    token = challenge["token"]
    left = challenge["attempts_remaining"]
    assert left == 5, challenge
    # A tampered signature, then a key the user never registered: each costs a try.
    status, body = assert_passkey(server, token, key, tamper=True)
    assert status == 401 and error(body) == "invalid_passkey" and body["error"]["attempts_remaining"] == 4, body
    stranger = Authenticator()
    stranger.rp_id, stranger.user_handle = key.rp_id, key.user_handle
    status, body = assert_passkey(server, token, stranger, ignore_allow_list=True)
    assert status == 401 and error(body) == "invalid_passkey" and body["error"]["attempts_remaining"] == 3, body
    # An assertion without a fresh options call (the last one was used by the failure).
    options = login_options(server, token)
    credential = key.get(options, server.url)
    server.api("POST", "/v1/auth/login/passkey/verify", {"challenge_token": token, "credential": key.get(options, server.url, tamper=True)})
    status, _, body = server.api("POST", "/v1/auth/login/passkey/verify", {"challenge_token": token, "credential": credential})
    assert status == 401 and error(body) == "invalid_passkey" and body["error"]["attempts_remaining"] == 1, body
    # The count is the login's, shared with email codes.
    status, _, body = server.api("POST", "/v1/auth/login/challenge", {"challenge_token": token})
    assert status == 200 and body["challenge"]["attempts_remaining"] == 1, body
    status, body = assert_passkey(server, token, key, tamper=True)
    assert status == 401 and error(body) == "too_many_attempts" and body["error"]["attempts_remaining"] == 0, body
    # Five failures: the right passkey no longer opens this login.
    status, _, body = server.api("POST", "/v1/auth/login/passkey/options", {"challenge_token": token})
    if status == 200:
        status, _, body = server.api("POST", "/v1/auth/login/passkey/verify",
                                     {"challenge_token": token, "credential": key.get(body["options"], server.url)})
    assert status != 200, body


# Relying party and origins --------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_rp_server(world):
    """Dashboards of several companies under one domain: `WEBAUTHN_RP_ID=localhost`, each
    company's `dashboard_url` on a host under it."""
    return world.server("passkey-shared-rp", url_host="localhost", WEBAUTHN_RP_ID="localhost",
                        LIMIT_CHALLENGES_PER_ACCOUNT=1000)


def preflight(server, origin):
    """A CORS preflight of a login from `origin`: the origin it allows back, or None."""
    _, headers, _ = http("OPTIONS", server.url + "/v1/auth/login",
                         headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    return headers.get("Access-Control-Allow-Origin")


def test_a_shared_rp_id_serves_each_companys_own_dashboard_only(world, shared_rp_server):
    server = shared_rp_server
    acme = company_with_passkeys(world, server, "acme")
    globex = company_with_passkeys(world, server, "globex")
    acme_origin = f"http://acme-{acme.tag}.localhost:{server.port}"
    globex_origin = f"http://globex-{globex.tag}.localhost:{server.port}"
    # As the platform's provisioning API would set them; read from the database, no restart.
    for company, url in [(acme, acme_origin + "/dashboard"), (globex, globex_origin)]:
        world.cluster.query("UPDATE companies SET dashboard_url = :'v2' WHERE id = :'v1'", company.id, url)

    session, _ = code_login(server, world.mailbox, acme.owner, acme.password)
    status, body = registration_options(server, session)
    assert status == 200 and body["options"]["rp"]["id"] == "localhost", body
    key = Authenticator()
    # Another company's dashboard is under the same RP ID, but not one of Acme's origins.
    status, body = register(server, session, key, origin=globex_origin)
    assert status == 400 and body["error"].get("reason") == "origin_not_allowed", body
    status, body = register(server, session, key, origin=acme_origin)
    assert status == 201, body

    # Acme's passkey logs in from Acme's dashboard and from PUBLIC_URL, not from Globex's.
    challenge = start_login(server, acme.owner, acme.password)
    status, body = assert_passkey(server, challenge["token"], key, origin=globex_origin)
    assert status == 401 and error(body) == "invalid_passkey", body
    status, body = assert_passkey(server, challenge["token"], key, origin=acme_origin)
    assert status == 200, body
    challenge = start_login(server, acme.owner, acme.password)
    status, body = assert_passkey(server, challenge["token"], key, origin=server.url)
    assert status == 200, body

    # CORS admits every company's dashboard origin, and no other.
    assert preflight(server, acme_origin) == acme_origin
    assert preflight(server, globex_origin) == globex_origin
    assert preflight(server, f"http://other-{acme.tag}.localhost:{server.port}") is None


# The phishing_resistant policy ----------------------------------------------------------------


def user_id(server, session, email):
    status, _, body = server.api("GET", "/v1/company/users", None, session)
    assert status == 200, body
    found = [user for user in body["users"] if user["email"] == email]
    assert len(found) == 1, body
    return found[0]["id"], found[0]


def notices_to(world, email, words):
    return [record for _, record in world.mailbox.messages(email) if words in record["headers"].get("Subject", "").lower()]


def test_phishing_resistant_enrollment_login_then_passkey(world, server):
    company = company_with_passkeys(world, server, "phishing resistant")
    member = company.add("member", "member", dashboard_access=True)
    owner_key = Authenticator()
    session, _ = code_login(server, world.mailbox, company.owner, company.password)
    assert register(server, session, owner_key)[0] == 201
    policy = set_policy(server, session, company.password, "phishing_resistant")
    assert policy["methods"] == "phishing_resistant" and policy["users_without_passkey"] == 1, policy
    server.api("POST", "/v1/auth/logout", {}, session)

    # The owner, who has a passkey: only the passkey is offered now.
    challenge = start_login(server, company.owner, company.password)
    assert challenge["methods"] == ["passkey"], challenge
    status, _, body = server.api("POST", "/v1/auth/login/email", {"challenge_token": challenge["token"]})
    assert status == 400 and error(body) == "invalid_request", body

    # The member, who has none: one email login, enrollment only.
    challenge = start_login(server, member, company.password)
    assert challenge["methods"] == ["email"], challenge
    status, _, body = server.api("POST", "/v1/auth/login/verify", {"challenge_token": challenge["token"], "code": world.mailbox.next_code(member)})
    assert status == 200, body
    enrolment = body["session"]["token"]
    status, _, me = server.api("GET", "/v1/me", None, enrolment)
    assert status == 200 and me["enrollment_only"] is True, me
    for method, path in [("GET", "/v1/me/methods"), ("GET", "/v1/me/sessions"), ("GET", "/v1/company/security/policy"),
                         ("POST", "/v1/me/methods/totp")]:
        status, _, body = server.api(method, path, {"name": "x"} if method == "POST" else None, enrolment)
        assert status == 403 and error(body) == "passkey_enrollment_required", (method, path, body)
    key = Authenticator()
    status, body = register(server, enrolment, key)
    assert status == 201, body
    # Still enrollment-only until the user logs in with the passkey.
    status, _, body = server.api("GET", "/v1/me/sessions", None, enrolment)
    assert status == 403 and error(body) == "passkey_enrollment_required", body
    status, _, _ = server.api("POST", "/v1/auth/logout", {}, enrolment)
    assert status == 204

    session = passkey_login(server, member, company.password, key)
    status, _, me = server.api("GET", "/v1/me", None, session)
    assert me["enrollment_only"] is False and me["session"]["two_factor_verified"] is True, me
    status, _, body = server.api("GET", "/v1/me/methods", None, session)
    assert status == 200, body
    # Under this policy the last passkey stays.
    passkey = [m for m in body["methods"] if m["kind"] == "passkey"][0]
    status, _, body = server.api("DELETE", f"/v1/me/methods/{passkey['id']}", {"password": company.password}, session)
    assert status == 409 and error(body) == "last_required_method", body
    # Nobody is left without one.
    owner = passkey_login(server, company.owner, company.password, owner_key)
    status, _, body = server.api("GET", "/v1/company/security/policy", None, owner)
    assert body["policy"]["users_without_passkey"] == 0, body


def test_phishing_resistant_one_email_login_then_an_owners_reset(world, server):
    company = company_with_passkeys(world, server, "recovery")
    member = company.add("member", "member", dashboard_access=True)
    admin = company.add("admin", "admin")
    owner_key, admin_key = Authenticator(), Authenticator()
    owner_session, _ = code_login(server, world.mailbox, company.owner, company.password)
    assert register(server, owner_session, owner_key)[0] == 201
    admin_session, _ = code_login(server, world.mailbox, admin, company.password)
    assert register(server, admin_session, admin_key)[0] == 201
    set_policy(server, owner_session, company.password, "phishing_resistant")
    server.api("POST", "/v1/auth/logout", {}, owner_session)
    server.api("POST", "/v1/auth/logout", {}, admin_session)

    # The member's enrollment login, left without adding a passkey (a lost phone, say).
    challenge = start_login(server, member, company.password)
    assert challenge["methods"] == ["email"], challenge
    status, _, body = server.api("POST", "/v1/auth/login/verify", {"challenge_token": challenge["token"], "code": world.mailbox.next_code(member)})
    assert status == 200, body
    server.api("POST", "/v1/auth/logout", {}, body["session"]["token"])
    # The second email login: refused after the right password.
    status, _, body = server.api("POST", "/v1/auth/login", {"email": member, "password": company.password, "client": "dashboard"})
    assert status == 403 and error(body) == "passkey_required", body

    # Who may reset whom.
    admin_session = passkey_login(server, admin, company.password, admin_key)
    owner_session = passkey_login(server, company.owner, company.password, owner_key)
    member_id, listed = user_id(server, owner_session, member)
    assert listed["methods"] == ["email"] and listed["role"] == "member", listed
    owner_id, listed = user_id(server, admin_session, company.owner)
    assert "passkey" in listed["methods"], listed
    status, _, body = server.api("POST", f"/v1/company/users/{owner_id}/reset-methods", {"password": company.password}, admin_session)
    assert status == 403 and error(body) == "forbidden", body
    status, _, body = server.api("POST", f"/v1/company/users/{owner_id}/reset-methods", {"password": company.password}, owner_session)
    assert status == 403 and error(body) == "forbidden", body
    status, _, body = server.api("POST", f"/v1/company/users/{member_id}/reset-methods", {"password": "not-the-password"}, owner_session)
    assert status == 403 and error(body) == "reauthentication_required", body
    status, _, body = server.api("POST", f"/v1/company/users/{member_id}/reset-methods", {}, owner_session)
    assert status == 403 and error(body) == "reauthentication_required", body
    # The admin resets the member: recorded, and the member is told.
    mails_before = len(world.mailbox.messages(member))
    status, _, body = server.api("POST", f"/v1/company/users/{member_id}/reset-methods", {"password": company.password}, admin_session)
    assert status == 200 and body["user"]["id"] == member_id and body["user"]["methods"] == ["email"], body
    reset = events_of(server, owner_session, "methods.reset")
    assert len(reset) == 1 and member_id in [reset[0]["user_id"], *reset[0]["detail"].values()], reset
    for _ in deadline_loop(30, "the reset's notice to the member"):
        if len(world.mailbox.messages(member)) > mails_before:
            break
    world.mailbox.skip_all(member)

    # The email login is allowed once more, and leads to adding a passkey.
    challenge = start_login(server, member, company.password)
    assert challenge["methods"] == ["email"], challenge
    status, _, body = server.api("POST", "/v1/auth/login/verify", {"challenge_token": challenge["token"], "code": world.mailbox.next_code(member)})
    assert status == 200, body
    member_session = body["session"]["token"]
    status, _, me = server.api("GET", "/v1/me", None, member_session)
    assert me["enrollment_only"] is True, me
    status, _, body = server.api("GET", "/v1/company/users", None, member_session)
    assert status == 403 and error(body) == "passkey_enrollment_required", body
    key = Authenticator()
    assert register(server, member_session, key)[0] == 201
    server.api("POST", "/v1/auth/logout", {}, member_session)
    member_session = passkey_login(server, member, company.password, key)
    # A member may not list or reset anyone.
    status, _, body = server.api("GET", "/v1/company/users", None, member_session)
    assert status == 403 and error(body) == "forbidden", body
