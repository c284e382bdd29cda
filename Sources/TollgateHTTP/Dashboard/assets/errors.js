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

const FIELD_NAMES = {
  email: 'Email address',
  password: 'Password',
  code: 'Code',
  current_password: 'Current password',
  new_password: 'New password',
  name: 'Name',
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
