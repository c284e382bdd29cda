/**
 * Tollgate's passkey and recovery calls (SPEC §13, §13.1), beside {@link module:tollgate-api}:
 * the same base URL, session and {@link ApiError}s. The WebAuthn options and credentials are
 * the Level 3 JSON forms (base64url strings); webauthn.js turns them into what
 * `navigator.credentials` takes and back.
 *
 * @example
 * const options = await passkeyCreationOptions();
 * const method = await registerPasskey('Laptop', await createPasskey(options));
 *
 * @module tollgate-passkey-api
 */

import { call, get, post } from './api.js';

const anonymous = { auth: false };

/**
 * @typedef {object} CompanyUser Someone of the company, as owners and admins see them.
 * @property {string} id
 * @property {string} email
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
 * @returns {Promise<import('./api.js').Method>}
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
 * @returns {Promise<{session: import('./api.js').Session, remembered_browser: {token: string, expires_at: string} | null}>}
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
