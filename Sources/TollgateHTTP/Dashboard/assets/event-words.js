// Security events and browsers in words, for the event log of My Company → Security.

/// Each event type in words (SPEC §4, §10, §11); unknown ones fall back to their name.
const EVENT_WORDS = {
  'login.password_failed': 'Wrong password',
  'login.password_succeeded': 'Right password',
  'login.code_sent': 'Login code sent',
  'login.code_resent': 'New login code sent',
  'login.code_failed': 'Wrong login code',
  'login.code_expired': 'Login code expired',
  'login.succeeded': 'Logged in',
  'login.challenge_closed': 'Login stopped: no tries or codes left',
  'login.rate_limited': 'Login refused: too many attempts',
  'login.reported': 'Login reported as “this wasn\u2019t me”',
  'two_factor.activation_started': 'Two-factor setup started',
  'two_factor.activation_code_resent': 'New setup code sent',
  'two_factor.activation_code_failed': 'Wrong setup code',
  'two_factor.activation_code_expired': 'Setup code expired',
  'two_factor.activation_verified': 'Setup code confirmed',
  'two_factor.activation_closed': 'Two-factor setup stopped',
  'two_factor.activation_rate_limited': 'Two-factor setup refused: too many attempts',
  'two_factor.rate_limited': 'Two-factor setup refused: too many attempts',
  'two_factor.enabled': 'Two-factor authentication turned on',
  'two_factor.disabled': 'Two-factor authentication turned off',
  'two_factor.disable_denied': 'Refused to turn two-factor authentication off',
  'session.revoked': 'Session ended',
  'company.sessions_ended': 'Every session in the company ended by an owner',
  'remembered_browser.forgotten': 'Remembered browser forgotten',
  'email.sent': 'Email sent',
  'email.failed': 'Email could not be delivered',
  'email.expired': 'Email not sent: its code expired first',
  'account.unlocked': 'Account unlocked',
  'password.changed': 'Password changed',
  'password.reset': 'Password reset by email link',
  'password.reset_requested': 'Password reset link asked for',
  'password.rate_limited': 'Password reset link refused: too many asked for',
  'password.set': 'Password chosen from an invitation',
  'admin.company_created': 'Company created by the platform',
  'admin.company_updated': 'Company details changed by the platform',
  'admin.user_created': 'User added by the platform',
  'admin.user_updated': 'User changed by the platform',
  'admin.user_deactivated': 'User deactivated by the platform',
  'admin.user_reactivated': 'User reactivated by the platform',
  'admin.user_unlocked': 'User unlocked by the platform',
  'admin.password_reset_sent': 'Password reset link sent by the platform',
  'login.challenge_started': 'Login asked for a second factor',
  'login.remembered_browser_used': 'Logged in on a remembered browser',
  'remembered_browser.added': 'Browser remembered',
  'policy.changed': 'Sign-in policy changed',
  'method.added': 'Authenticator app added',
  'method.removed': 'Authenticator app removed',
  'passkey.rejected': 'Passkey refused while being added',
  'passkey.counter_regression': 'Passkey refused at login: it may have been copied (its counter went back)',
  'login.passkey_enrollment': 'Logged in with an email code to add a required passkey',
  'method.confirm_failed': 'Wrong code while adding an authenticator app',
  'method.rate_limited': 'Adding an authenticator app refused: too many wrong codes',
  'methods.reset': 'Sign-in methods reset: apps and passkeys removed',
};

/// Why a refusal happened, from an event's `detail.reason`.
const REASONS = {
  wrong_password: 'wrong password',
  role: 'only owners may',
};

/// Why a session ended (`session.revoked`'s `detail.reason`).
const SESSION_REASONS = {
  logout: 'logged out',
  ended_by_user: 'ended by its user',
  reported: 'its login was reported',
  two_factor_enabled: 'two-factor authentication was turned on',
};

export function eventWords(event) {
  const words = EVENT_WORDS[event.type];
  const detail = event.detail || {};
  if (words) {
    if (event.type.endsWith('code_failed') && typeof detail.attempts_remaining === 'number') {
      return `${words} (${detail.attempts_remaining} tries left)`;
    }
    const reasons = event.type === 'session.revoked' ? SESSION_REASONS : REASONS;
    if (typeof detail.reason === 'string' && reasons[detail.reason]) return `${words}: ${reasons[detail.reason]}`;
    const named = detail.kind === 'passkey' ? words.replace('Authenticator app', 'Passkey') : words;
    if (event.type.startsWith('method.') && typeof detail.name === 'string') return `${named}: “${detail.name}”`;
    if (event.type.startsWith('method.')) return named;
    return words;
  }
  if (event.type.startsWith('admin.')) return `Changed by the platform: ${event.type.slice(6).replace(/[._]/g, ' ')}`;
  return event.type.replace(/[._]/g, ' ');
}

/// "Chrome 156 on Linux" from a User-Agent header; the whole header stays in a tooltip.
export function browserWords(agent) {
  if (!agent) return '';
  const browsers = [['Edg/', 'Edge'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Version/', 'Safari'], ['curl/', 'curl']];
  const systems = [['Android', 'Android'], ['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Windows', 'Windows'], ['Mac OS X', 'macOS'], ['Linux', 'Linux']];
  let name = '';
  for (const [marker, label] of browsers) {
    const at = agent.indexOf(marker);
    if (at >= 0) {
      name = `${label} ${agent.slice(at + marker.length).split(/[ .;)]/)[0]}`;
      break;
    }
  }
  const system = systems.find(([marker]) => agent.includes(marker));
  if (!name) return agent.length > 40 ? `${agent.slice(0, 40)}…` : agent;
  return system ? `${name} on ${system[1]}` : name;
}
