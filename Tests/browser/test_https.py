"""The dashboard over HTTPS from another origin (issue 14): one `serve` on https://localhost:B
serves the page, another on https://127.0.0.1:A is its API (CORS for exactly that origin).
The certificate is made with openssl for the test and trusted by this Chromium through its
own NSS database (no switch that ignores certificate errors)."""
import re

from support import free_port, http


def test_https_cross_origin_login_and_retry_after(world, browser_factory):
    tls = world.tls
    page_port = free_port()
    page_origin = f"https://localhost:{page_port}"
    # 45 s between codes: more than the 30 s the page assumes when it cannot read Retry-After.
    api = world.server("https-api", tls=tls, CORS_ALLOWED_ORIGINS=page_origin, RESEND_COOLDOWN=45)
    site = world.server("https-page", tls=tls, port=page_port, url_host="localhost", DASHBOARD_API_URL=api.url)
    assert site.url == page_origin

    status, headers, _ = http("GET", page_origin + "/", cafile=site.cafile)
    assert status == 200
    assert "max-age=" in (headers.get("Strict-Transport-Security") or "")
    policy = headers.get("Content-Security-Policy") or ""
    assert "script-src 'self'" in policy and api.url in policy, policy
    assert "unsafe-inline" not in policy

    company = world.company("https")
    company.enable_two_factor(api, world.mailbox)

    page = browser_factory(home=tls.browser_home(world.root))
    page.open(page_origin + "/")
    page.wait_screen("login")
    assert page.driver.execute_script("return document.querySelector('meta[name=\"tollgate-api\"]').content") == api.url
    page.shot("login")
    page.fill("login-email", company.owner)
    page.fill("login-password", company.password)
    page.press("Log in", within="login-form")

    page.wait_screen("code")
    page.wait_text("code-delivery", "has been sent")
    page.shot("code")
    code = world.mailbox.next_code(company.owner)

    # Refused within the cooldown: the countdown can only come from Retry-After (about 45 s).
    page.press("Send a new code")
    label = page.wait_text("code-resend", r"^Send a new code \(\d+ s\)$")
    seconds = int(re.search(r"\((\d+) s\)", label).group(1))
    assert 35 < seconds <= 45, label
    assert not page.el("code-resend").is_enabled()
    page.wait_error("code", r"you can ask again in \d+ seconds")
    page.shot("cooldown")

    page.fill("code-input", code)
    page.press("Log in", within="code-form")
    page.wait_screen("home")
    page.wait_text("home-session", "confirmed with a second step")
    assert page.url() == page_origin + "/"
    page.shot("home")
