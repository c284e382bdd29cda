// The one table from the API's error codes to words a person understands.
// A screen may say something more specific first (a wrong code shows how many tries are left),
// but every message shown for a refusal starts here.

/// "45 seconds", "2 minutes", "3 hours" — for waits announced by Retry-After.
export function duration(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return s === 1 ? '1 second' : `${s} seconds`;
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) return minutes === 1 ? '1 minute' : `${minutes} minutes`;
  const hours = Math.ceil(minutes / 60);
  return hours === 1 ? '1 hour' : `${hours} hours`;
}

function later(error, fallback) {
  return error.retryAfter !== null ? `in ${duration(error.retryAfter)}` : fallback;
}

const MESSAGES = {
  network: () => 'The server did not answer. Check your connection and try again.',
  invalid_request: (e) => (e.field ? `Please check the field “${FIELD_NAMES[e.field] || e.field}”.` : 'Please check what you entered.'),
  invalid_credentials: () => 'That email address and password do not match an account.',
  no_dashboard_access: () =>
    'Your account uses the phone app only, so it cannot open the dashboard. Log in from the phone app, ' +
    "or ask your company's owner or an admin to give you dashboard access.",
  rate_limited: (e) => `Too many attempts. For your security, please wait and try again ${later(e, 'later')}.`,
  account_locked: (e) =>
    `Dashboard login for this account is locked after too many wrong codes. Try again ${later(e, 'later')}, ` +
    "or ask your company's administrator to contact support.",
  unauthenticated: () => 'Your session has ended. Please log in again.',
  forbidden: () => 'Your role does not allow this. Ask an owner of your company.',
  dashboard_session_required: () => 'This needs a dashboard login, not a phone-app session.',
  invalid_code: (e) =>
    e.attemptsRemaining === 0
      ? 'That code is not right, and it cannot be used any more.'
      : `That code is not right. ${tries(e.attemptsRemaining)} left for this code.`,
  code_expired: (e) => (e.resendsRemaining === 0 ? 'This code has expired.' : 'This code has expired. Send a new code.'),
  too_many_attempts: (e) =>
    e.resendsRemaining === 0 ? 'That code was entered wrongly too many times.' : 'That code was entered wrongly too many times. Send a new code.',
  challenge_closed: () => 'This code can no longer be used.',
  challenge_not_found: () => 'This code request is unknown or was replaced by a newer one.',
  resend_limit_reached: () => 'No more new codes can be sent for this attempt.',
  resend_too_soon: (e) => `Please wait before asking for a new code: you can ask again ${later(e, 'shortly')}.`,
  already_enabled: () => 'Two-factor authentication is already on for your company.',
  already_disabled: () => 'Two-factor authentication is already off for your company.',
  activation_not_verified: () => 'The code step is not finished, or it took too long. Please start again.',
  confirmation_required: () => 'Please confirm first.',
  reauthentication_required: () => 'That password is not right.',
  method_limit_reached: () => 'You have two authenticator apps already, the most an account can have. Remove one to add another.',
  last_required_method: () => 'This sign-in method cannot be removed.',
  passkey_rejected: (e) => `That passkey was not added: ${PASSKEY_REASONS[e.reason] || 'your device sent something we could not accept. Try again, or use another device'}.`,
  passkey_already_registered: () => 'This passkey is already registered. Use another device or security key.',
  invalid_passkey: (e) =>
    'That passkey was not accepted: it may belong to another account or address, or look like a copy of one used before. ' +
    (e.attemptsRemaining === 0 ? 'No tries are left for this login.' : `${tries(e.attemptsRemaining)} left.`),
  passkey_required: () =>
    'Your company requires a passkey to log in, and your account has none. Ask an owner or admin of your company ' +
    'to reset your sign-in methods; you can then log in once with an email code and add a passkey.',
  passkey_enrollment_required: () => 'Your company requires a passkey: add one first, then log in again with it.',
  password_rejected: () => 'Choose another password: it must be 8 to 128 characters and not a commonly used one.',
  token_invalid: () => 'This link has expired or has already been used.',
  not_found: () => 'That was not found. It may have been removed, or the link is out of date.',
  method_not_allowed: () => 'The page asked the server for something it does not do. Please reload the page.',
  payload_too_large: () => 'What you entered is too long.',
  unsupported_media_type: () => 'The page sent something the server cannot read. Please reload the page.',
  busy: (e) => `The service is busy right now. Please try again ${later(e, 'in a moment')}.`,
  unavailable: (e) => `The service is unavailable right now. Please try again ${later(e, 'in a moment')}.`,
  not_ready: (e) => `The service is starting or unavailable. Please try again ${later(e, 'in a moment')}.`,
  internal_error: () => 'Something went wrong on our side. Please try again; if it goes on, contact support.',
};

/// Why a passkey was refused (`passkey_rejected`'s `reason`), finishing "That passkey was not added: …".
const PASSKEY_REASONS = {
  no_ceremony: 'the request to add it expired or was already used. Press the button to try again',
  malformed_response: 'your browser sent an answer we could not read. Try again, or use another browser',
  malformed_client_data: 'your browser sent an answer we could not read. Try again, or use another browser',
  malformed_attestation_object: 'your device sent an answer we could not read. Try again, or use another device',
  malformed_authenticator_data: 'your device sent an answer we could not read. Try again, or use another device',
  wrong_ceremony_type: 'your browser answered a different request. Try again',
  challenge_mismatch: 'it answered an older request. Try again',
  origin_not_allowed: 'it was made on an address your company does not use. Open the dashboard at its usual address',
  cross_origin: 'it was made inside another website’s frame. Open the dashboard directly',
  rp_id_mismatch: 'it was made for another website',
  user_not_present: 'your device did not confirm you were there. Touch or click it when it asks',
  user_not_verified: 'your device did not check it is you (fingerprint, face, PIN or screen lock)',
  invalid_backup_flags: 'your device described its backup of the passkey in a way that cannot be right',
  backup_eligibility_changed: 'your device changed how it backs up the passkey',
  missing_credential_data: 'your device sent no key. Try again, or use another device',
  credential_id_too_long: 'your device’s passkey name is longer than we accept. Use another device',
  credential_id_mismatch: 'your device’s answer did not match itself. Try again',
  unsupported_algorithm: 'your device uses a kind of key we do not accept. Use another device or security key',
  invalid_public_key: 'your device’s key could not be used. Use another device or security key',
  unsupported_attestation_format: 'your device sent a kind of certificate we do not accept. Use another device or security key',
  invalid_attestation_statement: 'your device’s certificate did not check out. Use another device or security key',
  invalid_signature: 'its signature did not check out. Try again',
  counter_regression: 'it looks like a copy of a passkey used before',
  user_handle_mismatch: 'it belongs to another account',
};

const FIELD_NAMES = {
  email: 'Email address',
  password: 'Password',
  code: 'Code',
  current_password: 'Current password',
  new_password: 'New password',
  name: 'Name',
  credential: 'Passkey',
};

function tries(n) {
  if (n === null || n === undefined) return 'Some tries';
  return n === 1 ? '1 try' : `${n} tries`;
}

/// Words for any error thrown by api.js (or anything else).
export function describe(error) {
  const make = error && MESSAGES[error.code];
  if (make) return make(error);
  if (error && (error.status === 429 || error.status === 503)) {
    return `The service is busy. Please try again ${later(error, 'in a moment')}.`;
  }
  return 'Something went wrong. Please try again; if it goes on, contact support.';
}
