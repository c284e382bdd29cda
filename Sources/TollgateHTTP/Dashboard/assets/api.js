/**
 * Tollgate's API for a browser dashboard: one ES module, no dependencies, no build step. The
 * reference dashboard imports it as it is; another team may copy it into its own dashboard and
 * import it unchanged (each server serves the copy that matches it, at `/assets/api.js`). It does the same as a client generated
 * from `/openapi.yaml`, by hand: base URL, bearer token, JSON in and out, the error envelope
 * turned into a thrown {@link ApiError} (with `Retry-After`), and the delivery poll.
 *
 * Versioned with the API: {@link API_VERSION} is the document's `info.version`, and every path
 * here is under `/v1`. Within a version the API only grows (docs/integrating.md, "When the API
 * grows"): answers may carry fields, error codes and states this file does not name, and each
 * is passed through as a plain string, never refused.
 *
 * @example
 * import { configure, login, verifyLoginCode, session } from './api.js';
 * configure({ baseUrl: 'https://auth.acme.example' });
 * const answer = await login('olga@acme.example', password);
 * if (answer.challenge) session.set(await verifyLoginCode(answer.challenge.token, code));
 * else session.set(answer.session);
 *
 * @module tollgate-api
 */

/** The API version this module speaks: openapi.yaml's `info.version` (paths under `/v1`). */
export const API_VERSION = '1';

/**
 * @typedef {object} Session A session; keep `token` in `sessionStorage` or memory only.
 * @property {string} token The bearer token.
 * @property {string} expires_at RFC 3339, UTC.
 * @property {'dashboard' | 'phone_app' | string} client
 */
/**
 * @typedef {'queued' | 'sent' | 'failed' | 'expired' | 'not_sent' | string} Delivery The latest
 *   code email's state (`not_sent`: the login offers other methods and email was not picked);
 *   open (a later version may add one: treat it as not final).
 */
/**
 * @typedef {object} Challenge A login's second step; keep `token` in a variable only.
 * @property {string} token
 * @property {string[]} methods The second factors offered, strongest first (`passkey`, `totp`, `email`; open).
 * @property {string} method The one to open the screen with.
 * @property {number | null} remember_browser_days Offer "Don't ask again on this browser" for so
 *   many days; null: never.
 * @property {string} code_expires_at
 * @property {number} resends_remaining
 * @property {number} attempts_remaining
 * @property {string} email_hint The masked address, `j***@acme.com`.
 * @property {Delivery} delivery
 */
/**
 * @typedef {object} Activation The code step of turning 2FA on.
 * @property {string} id
 * @property {'code_sent' | 'verified' | 'used' | 'closed' | string} status
 * @property {string} code_expires_at
 * @property {number} resends_remaining
 * @property {number} attempts_remaining
 * @property {string} email_hint
 * @property {Delivery} delivery
 */
/**
 * @typedef {object} TwoFactor
 * @property {boolean} enabled
 * @property {string | null} enabled_at
 * @property {string | null} enabled_by
 * @property {number} dashboard_users How many people 2FA applies to.
 */
/**
 * @typedef {object} Me
 * @property {{id: string, email: string, name: string, role: 'owner' | 'admin' | 'member' | string, dashboard_access: boolean}} user
 * @property {{id: string, name: string, two_factor_enabled: boolean}} company
 * @property {{client: string, expires_at: string, two_factor_verified: boolean}} session
 * @property {boolean} [enrollment_only] This session may only add a passkey, then log out
 *   (the company requires passkeys; every other route answers 403 `passkey_enrollment_required`).
 */
/**
 * @typedef {object} SecurityEvent One entry of the company's event log.
 * @property {number} id
 * @property {string} type Open: show an unknown type by its name.
 * @property {string | null} user_id
 * @property {string | null} email
 * @property {string | null} ip
 * @property {string | null} user_agent
 * @property {string} created_at
 * @property {Object<string, string | number | boolean>} detail
 */
/** @typedef {{events: SecurityEvent[], next_before: number | null}} EventPage */
/**
 * @typedef {object} Policy The company's second-factor policy.
 * @property {'email' | 'any' | 'phishing_resistant' | string} methods
 * @property {'every_login' | 'per_browser' | string} ask
 * @property {number} remember_days
 * @property {number} users_without_passkey
 */
/**
 * @typedef {object} Method A way to give the second factor at login.
 * @property {string} id `email` for the email every account has, else the method's UUID.
 * @property {'email' | 'totp' | 'passkey' | string} kind Open: show an unknown kind by its name.
 * @property {string} name What the user called it (`Email` for email).
 * @property {string} created_at
 * @property {string | null} last_used_at
 */
/**
 * @typedef {object} Enrollment An authenticator app being added. Its secret is in this answer
 *   only: keep it in the page while the user scans or types it, nowhere else.
 * @property {string} id For {@link confirmAuthenticatorApp}.
 * @property {string} secret Base32, for typing into the app.
 * @property {string} otpauth_uri What the QR code says.
 * @property {string} qr_svg The QR code as an SVG document (show it as an image).
 */

let base = '';
// The reference page names the API's origin in a meta tag (empty: the page's own origin).
if (typeof document !== 'undefined') {
  const meta = document.querySelector('meta[name="tollgate-api"]');
  base = (meta ? meta.content : '').replace(/\/+$/, '');
}
let onSignedOut = () => {};

/**
 * Where the API is, and what to do when a logged-in call finds the session ended.
 * @param {{baseUrl?: string, whenSignedOut?: (error: ApiError) => void}} options `baseUrl`: the
 *   API's origin (`https://auth.acme.example`), empty for the page's own.
 */
export function configure({ baseUrl, whenSignedOut: handler } = {}) {
  if (baseUrl !== undefined) base = baseUrl.replace(/\/+$/, '');
  if (handler) onSignedOut = handler;
}

/** What to do when a logged-in call answers 401 `unauthenticated` (the session ended). */
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

const SESSION_KEY = 'tollgate.session';

/**
 * The session, in `sessionStorage`: gone when the tab closes, unreadable by other tabs, never in
 * a URL (where history, logs and `Referer` headers would keep it). Any script on the origin could
 * read it, which is why the page allows no inline or outside script (Content-Security-Policy).
 */
export const session = {
  /** @returns {Session | null} */
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(SESSION_KEY));
    } catch {
      return null;
    }
  },
  /** @param {Session} value */
  set(value) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
};

/**
 * A refusal: the error envelope `{"error": {"code", "message", …}}` of any non-2xx answer, or
 * no answer at all (status 0, code `network`). Decide on `code`; `message` is for logs.
 */
export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message || code);
    /** @type {number} */ this.status = status;
    /** @type {string} open: an unknown code is handled by its status */ this.code = code;
    /** @type {string | null} */ this.field = details.field ?? null;
    /** @type {number | null} seconds, from `Retry-After` (429, 503, `account_locked`) */
    this.retryAfter = details.retryAfter ?? null;
    /** @type {number | null} */ this.attemptsRemaining = details.attemptsRemaining ?? null;
    /** @type {number | null} */ this.resendsRemaining = details.resendsRemaining ?? null;
    /** @type {string | null} why a passkey was refused (`passkey_rejected`; open) */ this.reason = details.reason ?? null;
  }
}

/** Seconds from `Retry-After`, or null (a cross-origin API must expose it; the server does). */
function retryAfterSeconds(response) {
  const text = response.headers.get('Retry-After');
  if (text === null || !/^\d+$/.test(text.trim())) return null;
  return Number.parseInt(text, 10);
}

/**
 * Calls the API. Resolves to `{status, body, retryAfter}`; throws {@link ApiError} for any
 * refusal. `auth: false` for the calls made before logging in.
 * @returns {Promise<{status: number, body: any, retryAfter: number | null}>}
 */
export async function call(method, path, body, { auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const current = session.get();
  if (auth && current && current.token) headers.Authorization = `Bearer ${current.token}`;
  let response;
  try {
    response = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit', // the bearer token is the only credential; no cookies
      cache: 'no-store',
      redirect: 'error',
    });
  } catch {
    throw new ApiError(0, 'network', 'No answer from the server.');
  }
  const retryAfter = retryAfterSeconds(response);
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (response.ok) return { status: response.status, body: data, retryAfter };

  const envelope = (data && data.error) || {};
  const error = new ApiError(response.status, envelope.code || `http_${response.status}`, envelope.message, {
    field: envelope.field,
    retryAfter,
    attemptsRemaining: envelope.attempts_remaining,
    resendsRemaining: envelope.resends_remaining,
    reason: envelope.reason,
  });
  if (auth && response.status === 401 && error.code === 'unauthenticated') {
    session.clear();
    onSignedOut(error);
  }
  throw error;
}

export const get = (path, options) => call('GET', path, undefined, options);
export const post = (path, body, options) => call('POST', path, body ?? {}, options);
export const patch = (path, body, options) => call('PATCH', path, body ?? {}, options);
const anonymous = { auth: false };
const activationPath = (id) => `/v1/company/security/two-factor/activation/${encodeURIComponent(id)}`;

/**
 * `POST /v1/auth/login` as a dashboard. Refusals: 401 `invalid_credentials`, 403
 * `no_dashboard_access` or `account_locked`, 429 `rate_limited`.
 * @param {string} email
 * @param {string} password
 * @param {string | null} rememberedBrowser the token a verify with `rememberBrowser` gave this
 *   user on this browser (an invalid or expired one is ignored by the server).
 * @returns {Promise<{session: Session} | {challenge: Challenge}>} a session (2FA off, or a
 *   remembered browser), or a challenge: a second factor is needed (`challenge.methods`; a code
 *   was emailed unless `delivery` is `not_sent`).
 */
export const login = async (email, password, rememberedBrowser = null) =>
  (await post('/v1/auth/login', { email, password, client: 'dashboard', ...(rememberedBrowser ? { remembered_browser: rememberedBrowser } : {}) }, anonymous))
    .body;
/** `POST /v1/auth/login/challenge`: the delivery state (410 `challenge_closed`, 404). @returns {Promise<Challenge>} */
export const viewLoginChallenge = async (token) => (await post('/v1/auth/login/challenge', { challenge_token: token }, anonymous)).body.challenge;
/** `POST /v1/auth/login/resend` (409 `resend_limit_reached`, 429 `resend_too_soon`, 410). @returns {Promise<Challenge>} */
export const resendLoginCode = async (token) => (await post('/v1/auth/login/resend', { challenge_token: token }, anonymous)).body.challenge;
/** `POST /v1/auth/login/verify` (401 `invalid_code`, `code_expired`, `too_many_attempts`; 410). @returns {Promise<Session>} */
export const verifyLoginCode = async (token, code) =>
  (await post('/v1/auth/login/verify', { challenge_token: token, code }, anonymous)).body.session;
/**
 * `POST /v1/auth/login/verify` with where the code comes from (`method`: `email` or `totp`) and
 * whether to remember this browser (honoured when the company asks once per browser). Errors as
 * `verifyLoginCode`.
 * @returns {Promise<{session: Session, remembered_browser: {token: string, expires_at: string} | null}>}
 */
export const finishLogin = async (token, code, { method = 'email', rememberBrowser = false } = {}) =>
  (await post('/v1/auth/login/verify', { challenge_token: token, code, method, remember_browser: rememberBrowser }, anonymous)).body;
/** `POST /v1/auth/login/email`: the user picked email; the first code is mailed (errors as resend). @returns {Promise<Challenge>} */
export const chooseEmailCode = async (token) => (await post('/v1/auth/login/email', { challenge_token: token }, anonymous)).body.challenge;
/** `POST /v1/auth/logout`: ends this session. @returns {Promise<void>} */
export const logout = async () => void (await post('/v1/auth/logout'));
/** `GET /v1/me`. @returns {Promise<Me>} */
export const me = async () => (await get('/v1/me')).body;

/** `POST /v1/account/password` (403 `reauthentication_required`, 400 `password_rejected`). @returns {Promise<void>} */
export const changePassword = async (currentPassword, newPassword) =>
  void (await post('/v1/account/password', { current_password: currentPassword, new_password: newPassword }));
/** `POST /v1/auth/password/forgot`: always accepted, whatever the address. @returns {Promise<void>} */
export const forgotPassword = async (email) => void (await post('/v1/auth/password/forgot', { email }, anonymous));
/** `POST /v1/auth/password/reset` with a link's token (410 `token_invalid`). @returns {Promise<void>} */
export const resetPassword = async (token, newPassword) => void (await post('/v1/auth/password/reset', { token, new_password: newPassword }, anonymous));
/** `POST /v1/auth/not-me` with a link's token (410 `token_invalid` once used). @returns {Promise<void>} */
export const reportNotMe = async (token) => void (await post('/v1/auth/not-me', { token }, anonymous));

/** `GET /v1/company/security` (owners and admins). @returns {Promise<TwoFactor>} */
export const companySecurity = async () => (await get('/v1/company/security')).body.two_factor;
/** `POST …/two-factor/activation`: emails a code to the caller (409 `already_enabled`). @returns {Promise<Activation>} */
export const startActivation = async () => (await post('/v1/company/security/two-factor/activation')).body.activation;
/** `GET …/activation/{id}`: the delivery state. @returns {Promise<Activation>} */
export const viewActivation = async (id) => (await get(activationPath(id))).body.activation;
/** `POST …/activation/{id}/resend`. @returns {Promise<Activation>} */
export const resendActivationCode = async (id) => (await post(`${activationPath(id)}/resend`)).body.activation;
/** `POST …/activation/{id}/verify`. @returns {Promise<Activation>} */
export const verifyActivationCode = async (id, code) => (await post(`${activationPath(id)}/verify`, { code })).body.activation;
/** `POST …/two-factor/enable` (409 `activation_not_verified`, `already_enabled`). @returns {Promise<TwoFactor>} */
export const enableTwoFactor = async (activationId) =>
  (await post('/v1/company/security/two-factor/enable', { activation_id: activationId, confirm: true })).body.two_factor;
/** `POST …/two-factor/disable`, owners only, with their password (403 `reauthentication_required`). @returns {Promise<TwoFactor>} */
export const disableTwoFactor = async (password) => (await post('/v1/company/security/two-factor/disable', { confirm: true, password })).body.two_factor;
/** `GET /v1/company/security/policy` (owners and admins). @returns {Promise<Policy>} */
export const signInPolicy = async () => (await get('/v1/company/security/policy')).body.policy;
/**
 * `PATCH /v1/company/security/policy`, owners only, with their password (403
 * `reauthentication_required`, 400 `invalid_request`).
 * @param {{methods?: string, ask?: string, remember_days?: number}} change
 * @returns {Promise<Policy>}
 */
export const changeSignInPolicy = async (change, password) => (await patch('/v1/company/security/policy', { ...change, password })).body.policy;
/** `GET /v1/me/methods`: email first, then the confirmed authenticator apps. @returns {Promise<Method[]>} */
export const signInMethods = async () => (await get('/v1/me/methods')).body.methods;
/**
 * `POST /v1/me/methods/totp`: starts adding an authenticator app. Without `password` the session's
 * login code must be under 10 minutes old (else 403 `reauthentication_required`: ask for the
 * password and call again with it); 409 `method_limit_reached`.
 * @returns {Promise<Enrollment>}
 */
export const startAuthenticatorApp = async (name, password) =>
  (await post('/v1/me/methods/totp', password ? { name, password } : { name })).body.enrollment;
/** `POST /v1/me/methods/totp/{id}/confirm` with the app's current code (401 `invalid_code`, 404, 429). @returns {Promise<Method>} */
export const confirmAuthenticatorApp = async (id, code) =>
  (await post(`/v1/me/methods/totp/${encodeURIComponent(id)}/confirm`, { code })).body.method;
/** `DELETE /v1/me/methods/{id}`; `password` as for adding (403 `reauthentication_required`; 409 `last_required_method`). @returns {Promise<void>} */
export const removeSignInMethod = async (id, password) =>
  void (await call('DELETE', `/v1/me/methods/${encodeURIComponent(id)}`, password ? { password } : undefined));

// ---- Passkeys (SPEC §13, §13.1) and resetting someone's sign-in methods ----
// The WebAuthn options and credentials are the Level 3 JSON forms (base64url strings);
// webauthn.js turns them into what `navigator.credentials` takes and back.

/**
 * @typedef {object} CompanyUser Someone of the company, as owners and admins see them.
 * @property {string} id
 * @property {string} email
 * @property {string} name May be empty.
 * @property {'owner' | 'admin' | 'member' | string} role
 * @property {boolean} dashboard_access
 * @property {string[]} methods The kinds of second factor they have (`email`, `totp`, `passkey`; open).
 */

/**
 * `POST /v1/me/methods/passkeys/options`: a new passkey's creation options, bound to this
 * session for 5 minutes. Without `password` the session's second factor must be under 10
 * minutes old (else 403 `reauthentication_required`); 409 `method_limit_reached` at 10.
 * @returns {Promise<object>} PublicKeyCredentialCreationOptionsJSON
 */
export const passkeyCreationOptions = async (password) =>
  (await post('/v1/me/methods/passkeys/options', password ? { password } : {})).body.options;

/**
 * `POST /v1/me/methods/passkeys` with the browser's RegistrationResponseJSON. Refusals: 400
 * `passkey_rejected` (`error.reason` says why; `no_ceremony`: ask for new options), 409
 * `passkey_already_registered`, 409 `method_limit_reached`.
 * @returns {Promise<Method>}
 */
export const registerPasskey = async (name, credential) => (await post('/v1/me/methods/passkeys', { name, credential })).body.method;

/**
 * `POST /v1/auth/login/passkey/options`: the request options of a login that offers passkeys
 * (a new call replaces the last one's WebAuthn challenge). Errors as viewing the challenge.
 * @returns {Promise<object>} PublicKeyCredentialRequestOptionsJSON
 */
export const loginPasskeyOptions = async (challengeToken) =>
  (await post('/v1/auth/login/passkey/options', { challenge_token: challengeToken }, anonymous)).body.options;

/**
 * `POST /v1/auth/login/passkey/verify` with the browser's AuthenticationResponseJSON. A refused
 * assertion is 401 `invalid_passkey` with `attempts_remaining` and counts as a wrong code.
 * @returns {Promise<{session: Session, remembered_browser: {token: string, expires_at: string} | null}>}
 */
export const finishPasskeyLogin = async (challengeToken, credential, { rememberBrowser = false } = {}) =>
  (await post('/v1/auth/login/passkey/verify', { challenge_token: challengeToken, credential, remember_browser: rememberBrowser }, anonymous)).body;

/** `GET /v1/company/users` (owners and admins; 403 `forbidden`). @returns {Promise<CompanyUser[]>} */
export const companyUsers = async () => (await get('/v1/company/users')).body.users;

/**
 * `POST /v1/company/users/{id}/reset-methods` with the caller's password: removes the user's
 * apps and passkeys and allows one email login again. 403 `reauthentication_required` (wrong
 * password), 403 `forbidden` (an admin resetting an owner, anyone resetting themselves).
 * @returns {Promise<CompanyUser>}
 */
export const resetUserMethods = async (id, password) =>
  (await call('POST', `/v1/company/users/${encodeURIComponent(id)}/reset-methods`, { password })).body.user;

/**
 * @typedef {object} ListedSession One of the user's live sessions.
 * @property {string} id
 * @property {'dashboard' | 'phone_app' | string} client
 * @property {string} browser A short summary made by the server ("Firefox 128 on Linux").
 * @property {string | null} ip
 * @property {string} created_at
 * @property {string} last_used_at To the minute.
 * @property {boolean} two_factor_verified
 * @property {boolean} current The session of this page.
 */
/**
 * @typedef {object} RememberedBrowser A browser that skips the second step until `expires_at`.
 * @property {string} id
 * @property {string} browser
 * @property {string} created_at
 * @property {string | null} last_used_at Null until it has let a login skip the code.
 * @property {string} expires_at
 */
/** `GET /v1/me/sessions`. @returns {Promise<{sessions: ListedSession[], remembered_browsers: RememberedBrowser[]}>} */
export const mySessions = async () => (await get('/v1/me/sessions')).body;
/** `DELETE /v1/me/sessions/{id}` (404 `not_found`); ending the current one is a logout. @returns {Promise<void>} */
export const endSession = async (id) => void (await call('DELETE', `/v1/me/sessions/${encodeURIComponent(id)}`));
/** `POST /v1/me/sessions/end-others`. @returns {Promise<number>} how many were ended. */
export const endOtherSessions = async () => (await call('POST', '/v1/me/sessions/end-others')).body.ended;
/** `DELETE /v1/me/remembered-browsers/{id}` (404 `not_found`). @returns {Promise<void>} */
export const forgetRememberedBrowser = async (id) => void (await call('DELETE', `/v1/me/remembered-browsers/${encodeURIComponent(id)}`));
/**
 * `POST /v1/company/security/end-all-sessions`, owners only, with their password (403
 * `reauthentication_required`). Ends the caller's own session too.
 * @returns {Promise<{sessions_ended: number, browsers_forgotten: number}>}
 */
export const endAllSessions = async (password) => (await post('/v1/company/security/end-all-sessions', { password })).body;
/**
 * `GET /v1/company/security/events`, newest first. Pass `next_before` as `before` for the next
 * page; it is null on the last.
 * @param {{limit?: number, before?: number | null}} page
 * @returns {Promise<EventPage>}
 */
export async function securityEvents({ limit = 50, before = null } = {}) {
  return (await get(`/v1/company/security/events?limit=${limit}${before === null ? '' : `&before=${before}`}`)).body;
}

/** How often to ask for the delivery state while the email is on its way. */
export const POLL_INTERVAL_MS = 2000;
/** Whether a delivery state will not change any more (an unknown, newer one is not final). */
export const deliveryIsFinal = (delivery) => delivery === 'sent' || delivery === 'failed' || delivery === 'expired';

/**
 * Follows a code's email until its delivery state is final: calls `refresh` (for example
 * `() => viewLoginChallenge(token)`) every {@link POLL_INTERVAL_MS} and hands each new state to
 * `onUpdate`. A refusal of `refresh` (410, 404) ends the poll and rejects; a network error is
 * retried at the next tick. Returns a function that stops it.
 * @template {{delivery: Delivery}} T
 * @param {() => Promise<T>} refresh
 * @param {(state: T) => void} onUpdate
 * @param {(error: ApiError) => void} [onClosed]
 * @returns {() => void}
 */
export function pollDelivery(refresh, onUpdate, onClosed = () => {}) {
  const timer = setInterval(async () => {
    try {
      const state = await refresh();
      onUpdate(state);
      if (deliveryIsFinal(state.delivery)) clearInterval(timer);
    } catch (error) {
      if (error instanceof ApiError && error.status !== 0 && error.status < 500) {
        clearInterval(timer);
        onClosed(error);
      }
    }
  }, POLL_INTERVAL_MS);
  return () => clearInterval(timer);
}
