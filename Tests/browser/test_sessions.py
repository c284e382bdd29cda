"""Where you're logged in (SPEC §14) in a real Chromium against the real server: one user logged
in from two browsers and the API, ending sessions from the list, forgetting a remembered
browser, and an owner ending every session of the company. Screenshots under
.build/screenshots/<test>/, each screen checked with axe-core."""
import secrets

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from test_dashboard import log_in


def remember_browser(world, company, email, user_agent):
    """A remembered browser as the login stores one (the login's side issues them; here the row is
    written as the database's owner). Returns its id."""
    return world.cluster.query(
        "WITH made AS (INSERT INTO remembered_browsers (company_id, user_id, token_hash, ip, user_agent, expires_at) "
        "SELECT u.company_id, u.id, decode(:'v2', 'hex'), '198.51.100.7', :'v3', now() + interval '14 days' "
        "FROM users u WHERE u.email = lower(:'v1') RETURNING id) SELECT id FROM made",
        email, secrets.token_hex(32), user_agent)


def rows(page, body_id):
    return page.driver.find_elements(By.CSS_SELECTOR, f"#{body_id} tr")


def row_with(page, body_id, *words):
    """The one row of a table whose text holds every one of `words`."""
    found = [row for row in rows(page, body_id) if all(word in row.text for word in words)]
    assert len(found) == 1, f"rows of #{body_id} with {words}: {[row.text for row in rows(page, body_id)]}"
    return found[0]


def open_sessions(page):
    page.press("Where you’re logged in")
    page.wait_screen("sessions")
    page.wait(lambda: rows(page, "sessions-body"), "the list of sessions")


def test_a_user_ends_sessions_and_forgets_a_browser(world, main_server, browser_factory):
    company = world.company("sessions")
    member = company.add("member", "member", dashboard_access=True, name="Mia Member")
    first = browser_factory(label="first")
    second = browser_factory(width=375, height=800, label="second")
    status, _, body = main_server.api("POST", "/v1/auth/login", {"email": member, "password": company.password, "client": "phone_app"})
    assert status == 200, body
    phone = body["session"]["token"]
    kept = remember_browser(world, company, member, "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Version/17.5 Safari/605.1.15")
    forgotten = remember_browser(world, company, member, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0")

    log_in(second, main_server, member, company.password)
    second.wait_screen("home")
    log_in(first, main_server, member, company.password)
    first.wait_screen("home")
    open_sessions(first)
    assert len(rows(first, "sessions-body")) == 3
    mine = rows(first, "sessions-body")[0]
    assert "This browser" in mine.text and "Dashboard, Chrome" in mine.text
    assert "Log out" in mine.text
    row_with(first, "sessions-body", "Phone app, unrecognised browser")
    assert len(rows(first, "browsers-body")) == 2
    row_with(first, "browsers-body", "Safari 17 on macOS", "Not yet")
    first.shot("sessions")

    # The other browser (a phone-sized window) sees the same sessions, itself marked.
    open_sessions(second)
    assert "This browser" in rows(second, "sessions-body")[0].text
    second.shot("sessions-narrow")

    # End the other browser's session from the first: it is sent back to the login screen.
    others = [row for row in rows(first, "sessions-body") if "Dashboard" in row.text and "This browser" not in row.text]
    assert len(others) == 1
    others[0].find_element(By.TAG_NAME, "button").click()
    first.wait_status("sessions", "was ended")
    assert len(rows(first, "sessions-body")) == 2
    first.shot("one-ended")
    second.press("Home")
    second.wait_screen("login")
    second.wait_error("login", "Your session has ended")
    second.shot("ended-elsewhere")

    # Forget a remembered browser.
    row_with(first, "browsers-body", "Firefox 128 on Windows").find_element(By.TAG_NAME, "button").click()
    first.wait_status("sessions", "Firefox 128 on Windows is forgotten")
    assert len(rows(first, "browsers-body")) == 1
    assert world.cluster.query("SELECT revoked_reason FROM remembered_browsers WHERE id = :'v1'", forgotten) == "forgotten"
    assert world.cluster.query("SELECT revoked_at IS NULL FROM remembered_browsers WHERE id = :'v1'", kept) == "t"
    first.shot("browser-forgotten")

    # "End all other sessions", from the keyboard: the API's phone session ends.
    first.tab_to("sessions-end-others", limit=40)
    first.keys(Keys.ENTER)
    first.wait_status("sessions", "1 other session was ended")
    assert len(rows(first, "sessions-body")) == 1
    assert not first.shown("sessions-end-others")
    status, _, _ = main_server.api("GET", "/v1/me", token=phone)
    assert status == 401
    first.shot("others-ended")

    # Ending this browser's own session is a logout.
    first.press("Log out", within="sessions-body")
    first.wait_screen("login")
    first.wait_status("login", "You are logged out")
    assert first.session_storage() == "{}"


def test_an_owner_ends_every_session_of_the_company(world, main_server, browser_factory):
    company = world.company("endall")
    admin = company.add("admin", "admin", name="Ada Admin")
    status, _, body = main_server.api("POST", "/v1/auth/login", {"email": admin, "password": company.password, "client": "dashboard"})
    assert status == 200, body
    admin_token = body["session"]["token"]
    remember_browser(world, company, admin, "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")

    # An admin sees no such button.
    other = browser_factory(label="admin")
    log_in(other, main_server, admin, company.password)
    other.wait_screen("home")
    other.press("My Company: Security")
    other.wait_screen("security")
    assert not other.shown("end-all")

    page = browser_factory(label="owner")
    log_in(page, main_server, company.owner, company.password)
    page.wait_screen("home")
    page.press("My Company: Security")
    page.wait_screen("security")
    assert page.shown("end-all-open")
    page.shot("security")

    page.press("End every session in the company")
    page.wait(lambda: page.focused_id() == "end-all-password", "focus in the password field")
    page.shot("confirm")
    page.press("Cancel", within="end-all-dialog")
    page.wait(lambda: page.focused_id() == "end-all-open", "focus back on the button")

    page.press("End every session in the company")
    page.fill("end-all-password", "not-the-password")
    page.press("End every session", within="end-all-dialog")
    page.wait_text("end-all-error", "That password is not right")
    page.shot("wrong-password")

    page.fill("end-all-password", company.password)
    page.keys(Keys.ENTER)
    page.wait_screen("login")
    page.wait_status("login", r"Every session in the company was ended \(3 sessions, 1 remembered browser forgotten\)")
    assert not page.shown("nav")
    page.shot("all-ended")

    status, _, _ = main_server.api("GET", "/v1/me", token=admin_token)
    assert status == 401
    other.press("Home")
    other.wait_screen("login")
    other.wait_error("login", "Your session has ended")
    assert world.cluster.query("SELECT count(*) FROM email_outbox WHERE template = 'sessions_ended' AND recipient = lower(:'v1')",
                               company.owner) == "1"
