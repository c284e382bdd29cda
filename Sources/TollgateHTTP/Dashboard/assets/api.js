// The one way this page talks to the Tollgate API: base URL, bearer token, JSON in and out,
// and the error envelope turned into a thrown ApiError.

const meta = document.querySelector('meta[name="tollgate-api"]');
// Empty means the API is on the page's own origin.
const base = (meta ? meta.content : '').replace(/\/+$/, '');

const SESSION_KEY = 'tollgate.session';

// The session token lives in sessionStorage: it is gone when the tab is closed, other tabs
// cannot read it, and it never travels in a URL (where history, logs and Referer headers would
// keep it). Any script on this origin could read it, which is why the page allows no inline
// or outside script (Content-Security-Policy).
export const session = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(SESSION_KEY));
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
  },
};

/// A refusal from the API (or no answer at all: status 0, code "network").
export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.field = details.field ?? null;
    this.retryAfter = details.retryAfter ?? null;
    this.attemptsRemaining = details.attemptsRemaining ?? null;
    this.resendsRemaining = details.resendsRemaining ?? null;
  }
}

let onSignedOut = () => {};

/// What to do when an authenticated call answers 401 unauthenticated (the session ended).
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

/// Seconds from a Retry-After header (whole seconds, SPEC §4), or null when absent or unreadable
/// (a cross-origin API must expose it with Access-Control-Expose-Headers).
function retryAfterSeconds(response) {
  const text = response.headers.get('Retry-After');
  if (text === null || !/^\d+$/.test(text.trim())) return null;
  return Number.parseInt(text, 10);
}

/// Calls the API. Resolves to {status, body, retryAfter}; throws ApiError for any refusal.
/// `auth: false` for the calls made before logging in.
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
  });
  if (auth && response.status === 401 && error.code === 'unauthenticated') {
    session.clear();
    onSignedOut(error);
  }
  throw error;
}

export const get = (path, options) => call('GET', path, undefined, options);
export const post = (path, body, options) => call('POST', path, body ?? {}, options);
