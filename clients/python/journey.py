#!/usr/bin/env python3
"""Every documented flow, through the client openapi-python-client generates from openapi.yaml.

Run by scripts/test-clients against a live `tollgate dev` (behind clients/validating_proxy.py,
which checks each answer against the document). Its own company, made with the demo platform
key, so it shares the server with the Swift journey. Codes and links are read from the `.eml`
files `dev` writes, as a developer would.

Usage: journey.py BASE_URL MAIL_DIRECTORY PLATFORM_KEY (the generated package on PYTHONPATH)
"""

import email
import email.policy
import pathlib
import re
import sys
import time
import uuid

from tollgate_client import AuthenticatedClient, Client
from tollgate_client.api.admin import (
    admin_create_company,
    admin_create_user,
    admin_deactivate_user,
    admin_get_company,
    admin_get_user,
    admin_list_users,
    admin_reactivate_user,
    admin_update_company,
    admin_update_user,
)
from tollgate_client.api.auth import login, logout, me, resend_login_code, verify_login_code, view_login_challenge
from tollgate_client.api.operations import live, openapi, ready
from tollgate_client.api.passwords import change_password, forgot_password, report_not_me, reset_password
from tollgate_client.api.security import (
    disable_two_factor,
    enable_two_factor,
    get_company_security,
    list_security_events,
    start_activation,
    verify_activation_code,
    view_activation,
)
from tollgate_client.models import (
    AdminCreateCompanyBody,
    AdminCreateCompanyBodyOwner,
    AdminCreateUserBody,
    AdminCreateUserBodyRole,
    AdminUpdateCompanyBody,
    AdminUpdateUserBody,
    AdminUpdateUserBodyRole,
    ChallengeEnvelope,
    ChallengeTokenRequest,
    ChangePasswordBody,
    Client as ClientKind,
    DisableTwoFactorBody,
    EnableTwoFactorBody,
    Error,
    ErrorCodeType0,
    ForgotPasswordBody,
    LoginBody,
    ReportNotMeBody,
    ResetPasswordBody,
    RoleType0,
    VerifyActivationCodeBody,
    VerifyLoginCodeBody,
)

STEPS = 0


def check(condition, what):
    global STEPS
    STEPS += 1
    if not condition:
        raise SystemExit(f"python journey: FAILED: {what}")


def error_code(answer):
    """The error code of a refusal: the known enum's value, or the plain string of an unknown one."""
    check(isinstance(answer.parsed, Error), f"an error envelope, got {answer.status_code} {answer.content[:200]!r}")
    code = answer.parsed.error.code
    return code.value if isinstance(code, ErrorCodeType0) else code


class Mailbox:
    """The `.eml` files `tollgate dev` writes: wait for the next one to an address."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.seen = set()

    def next_to(self, address, subject, timeout=30):
        """The text of the next email to `address` whose subject contains `subject`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in sorted(self.directory.glob("*.eml"), key=lambda p: p.stat().st_mtime):
                if path in self.seen:
                    continue
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if address in str(message["To"]) and subject in str(message["Subject"]):
                    self.seen.add(path)
                    return message.get_body(("plain",)).get_content()
            time.sleep(0.2)
        raise SystemExit(f"python journey: FAILED: no email to {address} about {subject!r} within {timeout} s")

    def code_for(self, address):
        """The code of the next code email (login or activation) and the email's text."""
        text = self.next_to(address, "code")
        return re.search(r"\b(\d{6})\b", text).group(1), text


def link_token(text, path):
    return re.search(re.escape(path) + r"#token=([A-Za-z0-9_\-]+)", text).group(1)


def main(base_url, mail_directory, platform_key):
    mail = Mailbox(mail_directory)
    # Mail that went out before this journey is not its own.
    mail.seen.update(mail.directory.glob("*.eml"))
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    platform = AuthenticatedClient(base_url=base_url, token=platform_key, raise_on_unexpected_status=True)
    run = uuid.uuid4().hex[:8]
    owner_email, password = f"owner-{run}@python.journey.test", "journey-owner-pass-1"

    # Operations: health and the document itself.
    check(live.sync_detailed(client=anonymous).status_code == 200, "live")
    check(ready.sync_detailed(client=anonymous).status_code == 200, "ready")
    check(openapi.sync_detailed(client=anonymous).parsed.startswith("openapi: 3.1"), "the document as text")

    # Provisioning: a company with its owner, retried with the same Idempotency-Key.
    body = AdminCreateCompanyBody(
        name=f"Python journey {run}", owner=AdminCreateCompanyBodyOwner(email=owner_email, password=password, name="Olga Owner")
    )
    key = f"create-{run}"
    created = admin_create_company.sync_detailed(client=platform, body=body, idempotency_key=key)
    check(created.status_code == 201, "company created")
    again = admin_create_company.sync_detailed(client=platform, body=body, idempotency_key=key)
    check(again.status_code == 201 and again.parsed.company.id == created.parsed.company.id, "the retry returns the first answer")
    company_id, owner_id = created.parsed.company.id, created.parsed.owner.id
    check(created.parsed.company.dashboard_url is None, "no dashboard URL yet")
    updated = admin_update_company.sync_detailed(company_id, client=platform, body=AdminUpdateCompanyBody(dashboard_url="https://dash.journey.test"))
    check(updated.parsed.company.dashboard_url == "https://dash.journey.test", "company updated")
    check(admin_get_company.sync_detailed(company_id, client=platform).status_code == 200, "company read")

    # Users: one with a password, the rest invited; paged three at a time to the empty page.
    admin = admin_create_user.sync_detailed(
        company_id,
        client=platform,
        body=AdminCreateUserBody(email=f"admin-{run}@python.journey.test", role=AdminCreateUserBodyRole.ADMIN, password="journey-admin-pass-1"),
        idempotency_key=f"admin-{run}",
    )
    check(admin.status_code == 201 and admin.parsed.user.role == RoleType0.ADMIN, "admin added")
    for index in range(4):
        invited = admin_create_user.sync_detailed(
            company_id,
            client=platform,
            body=AdminCreateUserBody(email=f"member{index}-{run}@python.journey.test", role=AdminCreateUserBodyRole.MEMBER),
        )
        check(invited.status_code == 201, "member invited")
    check("/reset#token=" in mail.next_to(f"member0-{run}@python.journey.test", "choose a password"), "invitation mailed")
    pages, after, seen = 0, None, []
    while True:
        page = admin_list_users.sync_detailed(company_id, client=platform, limit=3, **({"after": after} if after else {}))
        check(page.status_code == 200, "a page of users")
        pages += 1
        seen += [user.id for user in page.parsed.users]
        if page.parsed.next_after is None:
            check(page.parsed.users == [], "the page after a full last page is empty")
            break
        check(len(page.parsed.users) == 3, "a page with a cursor is full")
        after = page.parsed.next_after
    check(len(seen) == 6 and pages == 3, f"six users on two full pages and an empty one, got {len(seen)} on {pages}")

    admin_id = admin.parsed.user.id
    renamed = admin_update_user.sync_detailed(admin_id, client=platform, body=AdminUpdateUserBody(name="Ada Admin"))
    check(renamed.parsed.user.name == "Ada Admin", "user renamed")
    check(admin_deactivate_user.sync_detailed(admin_id, client=platform).parsed.user.active is False, "user deactivated")
    check(error_code(admin_update_user.sync_detailed(admin_id, client=platform, body=AdminUpdateUserBody(name="X"))) == "user_inactive", "PATCH of a deactivated user")
    check(admin_reactivate_user.sync_detailed(admin_id, client=platform).parsed.user.active is True, "user reactivated")
    check(admin_get_user.sync_detailed(admin_id, client=platform).parsed.user.name == "Ada Admin", "user read")
    demoted = admin_update_user.sync_detailed(owner_id, client=platform, body=AdminUpdateUserBody(role=AdminUpdateUserBodyRole.ADMIN))
    check(demoted.status_code == 409 and error_code(demoted) == "last_owner", "the last owner stays an owner")
    check(error_code(admin_deactivate_user.sync_detailed(owner_id, client=platform)) == "last_owner", "the last owner stays active")

    # Logging in with 2FA off, then turning it on through an activation code.
    def log_in(secret):
        return login.sync_detailed(client=anonymous, body=LoginBody(email=owner_email, password=secret, client=ClientKind.DASHBOARD))

    first = log_in(password)
    check(first.status_code == 200, "login without 2FA")
    owner = AuthenticatedClient(base_url=base_url, token=first.parsed.session.token, raise_on_unexpected_status=True)
    check(me.sync_detailed(client=owner).parsed.user.role == RoleType0.OWNER, "me")
    check(get_company_security.sync_detailed(client=owner).parsed.two_factor.enabled is False, "2FA is off")
    activation = start_activation.sync_detailed(client=owner)
    check(activation.status_code == 202, "activation started")
    activation_id = activation.parsed.activation.id
    code, _ = mail.code_for(owner_email)
    check(view_activation.sync_detailed(activation_id, client=owner).status_code == 200, "activation polled")
    wrong = verify_activation_code.sync_detailed(activation_id, client=owner, body=VerifyActivationCodeBody(code="000000" if code != "000000" else "111111"))
    check(error_code(wrong) == "invalid_code" and wrong.parsed.error.attempts_remaining == 4, "wrong activation code")
    verified = verify_activation_code.sync_detailed(activation_id, client=owner, body=VerifyActivationCodeBody(code=code))
    check(verified.status_code == 200, "activation verified")
    enabled = enable_two_factor.sync_detailed(client=owner, body=EnableTwoFactorBody(activation_id=activation_id, confirm=True))
    check(enabled.parsed.two_factor.enabled is True, "2FA on")
    check(logout.sync_detailed(client=owner).status_code == 204, "logout")
    check(error_code(me.sync_detailed(client=owner)) == "unauthenticated", "the session ended")

    # Logging in with a code: poll, a wrong code, a resend too soon, a resend, the right code.
    def log_in_with_code(secret, *, detours):
        started = log_in(secret)
        check(started.status_code == 202 and isinstance(started.parsed, ChallengeEnvelope), "a challenge")
        token = started.parsed.challenge.token
        code, _ = mail.code_for(owner_email)
        polled = view_login_challenge.sync_detailed(client=anonymous, body=ChallengeTokenRequest(challenge_token=token))
        check(polled.status_code == 200 and polled.parsed.challenge.token == token, "challenge polled")
        if detours:
            wrong = verify_login_code.sync_detailed(client=anonymous, body=VerifyLoginCodeBody(challenge_token=token, code="000000" if code != "000000" else "111111"))
            check(wrong.status_code == 401 and error_code(wrong) == "invalid_code" and wrong.parsed.error.attempts_remaining == 4, "wrong code")
            soon = resend_login_code.sync_detailed(client=anonymous, body=ChallengeTokenRequest(challenge_token=token))
            check(soon.status_code == 429 and error_code(soon) == "resend_too_soon", "resend too soon")
            time.sleep(int(soon.headers["Retry-After"]))  # the documented wait, not a synchronisation
            resent = resend_login_code.sync_detailed(client=anonymous, body=ChallengeTokenRequest(challenge_token=token))
            check(resent.status_code == 202 and resent.parsed.challenge.resends_remaining == 2, "resent")
            code, _ = mail.code_for(owner_email)
        session = verify_login_code.sync_detailed(client=anonymous, body=VerifyLoginCodeBody(challenge_token=token, code=code[:3] + " " + code[3:]))
        check(session.status_code == 200, "logged in with the code")
        return AuthenticatedClient(base_url=base_url, token=session.parsed.session.token, raise_on_unexpected_status=True), token

    owner, _ = log_in_with_code(password, detours=True)
    check(me.sync_detailed(client=owner).parsed.session.two_factor_verified is True, "a 2FA-verified session")

    # The event log, five at a time, with numeric details.
    events, before = [], None
    while True:
        page = list_security_events.sync_detailed(client=owner, limit=5, **({"before": before} if before else {}))
        events += page.parsed.events
        if page.parsed.next_before is None:
            break
        before = page.parsed.next_before
    types = {event.type_ for event in events}
    check(len(events) > 10 and {"login.code_failed", "login.rate_limited", "two_factor.enabled", "session.revoked"} <= types, f"events: {sorted(types)}")
    failed = next(event for event in events if event.type_ == "login.code_failed")
    check(failed.detail["attempts_remaining"] == 4, "a numeric detail")

    # Password change, forgot and reset.
    refused = change_password.sync_detailed(client=owner, body=ChangePasswordBody(current_password="not-it-at-all", new_password="journey-owner-pass-2"))
    check(error_code(refused) == "reauthentication_required", "a wrong current password")
    check(change_password.sync_detailed(client=owner, body=ChangePasswordBody(current_password=password, new_password="journey-owner-pass-2")).status_code == 204, "password changed")
    check(forgot_password.sync_detailed(client=anonymous, body=ForgotPasswordBody(email=owner_email)).status_code == 202, "forgot")
    token = link_token(mail.next_to(owner_email, "Reset your"), "/reset")
    password = "journey-owner-pass-3"
    check(reset_password.sync_detailed(client=anonymous, body=ResetPasswordBody(token=token, new_password=password)).status_code == 204, "reset")
    check(error_code(reset_password.sync_detailed(client=anonymous, body=ResetPasswordBody(token=token, new_password=password))) == "token_invalid", "a used reset link")

    # "This wasn't me": the login it reports is closed; the link works once.
    started = log_in(password)
    challenge = started.parsed.challenge.token
    not_me = link_token(mail.code_for(owner_email)[1], "/not-me")
    check(report_not_me.sync_detailed(client=anonymous, body=ReportNotMeBody(token=not_me)).status_code == 204, "reported")
    check(error_code(report_not_me.sync_detailed(client=anonymous, body=ReportNotMeBody(token=not_me))) == "token_invalid", "a used not-me link")
    check(error_code(view_login_challenge.sync_detailed(client=anonymous, body=ChallengeTokenRequest(challenge_token=challenge))) == "challenge_closed", "the reported login is closed")

    # Turning 2FA off takes the owner's password.
    owner, _ = log_in_with_code(password, detours=False)
    check(error_code(disable_two_factor.sync_detailed(client=owner, body=DisableTwoFactorBody(confirm=True, password="not-it-at-all"))) == "reauthentication_required", "disable needs the password")
    check(disable_two_factor.sync_detailed(client=owner, body=DisableTwoFactorBody(confirm=True, password=password)).parsed.two_factor.enabled is False, "2FA off")

    # What a later version may send: a code and a delivery state this client has never seen.
    future = Error.from_dict({"error": {"code": "code_of_a_later_version", "message": "later"}})
    check(type(future.error.code) is str and future.error.code == "code_of_a_later_version", "an unknown error code decodes as a string")
    later = ChallengeEnvelope.from_dict({"challenge": {**started.parsed.challenge.to_dict(), "delivery": "bounced"}})
    check(later.challenge.delivery == "bounced", "an unknown delivery state decodes as a string")
    print(f"python journey: {STEPS} checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
