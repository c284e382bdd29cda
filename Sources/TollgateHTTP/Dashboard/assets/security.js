// My Company → Security (SPEC §3.1, §3.3): the 2FA state, the activation flow ("Protect your
// company accounts" → Start → code → Next → confirmation → Enable), the owner-only disable
// with a password, and the company's event log.

import { changeSignInPolicy, companySecurity, disableTwoFactor, enableTwoFactor, resendActivationCode, signInPolicy } from './api.js';
import { securityEvents, startActivation, verifyActivationCode, viewActivation } from './api.js';
import { showCode } from './code.js';
import { describe } from './errors.js';
import { currentMe, loadMe } from './home.js';
import { $, register, go, section, showError, showStatus, whileBusy, when } from './ui.js';

const root = section('security');
const EVENTS_PER_PAGE = 10;

let twoFactor = null;
// Paging: the `before` cursor of each page shown so far (null: the newest page).
let cursors = [null];
let nextBefore = null;

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
  'method.confirm_failed': 'Wrong code while adding an authenticator app',
  'method.rate_limited': 'Adding an authenticator app refused: too many wrong codes',
  'methods.reset': 'Authenticator apps removed by the platform',
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

function eventWords(event) {
  const words = EVENT_WORDS[event.type];
  const detail = event.detail || {};
  if (words) {
    if (event.type.endsWith('code_failed') && typeof detail.attempts_remaining === 'number') {
      return `${words} (${detail.attempts_remaining} tries left)`;
    }
    const reasons = event.type === 'session.revoked' ? SESSION_REASONS : REASONS;
    if (typeof detail.reason === 'string' && reasons[detail.reason]) return `${words}: ${reasons[detail.reason]}`;
    if (event.type.startsWith('method.') && typeof detail.name === 'string') return `${words}: “${detail.name}”`;
    return words;
  }
  if (event.type.startsWith('admin.')) return `Changed by the platform: ${event.type.slice(6).replace(/[._]/g, ' ')}`;
  return event.type.replace(/[._]/g, ' ');
}

/// "Chrome 156 on Linux" from a User-Agent header; the whole header stays in a tooltip.
function browserWords(agent) {
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

async function loadEvents() {
  const before = cursors[cursors.length - 1];
  const page = await securityEvents({ limit: EVENTS_PER_PAGE, before });
  nextBefore = page.next_before;
  const body = $('events-body');
  body.replaceChildren(
    ...page.events.map((event) => {
      const row = document.createElement('tr');
      const cells = [when(event.created_at), eventWords(event), event.email || '', event.ip || '', browserWords(event.user_agent)];
      const labels = ['When', 'Event', 'Who', 'IP address', 'Browser'];
      cells.forEach((text, index) => {
        const cell = document.createElement('td');
        cell.textContent = text;
        cell.dataset.label = labels[index];
        if (index === 4 && event.user_agent) cell.title = event.user_agent;
        row.append(cell);
      });
      return row;
    }),
  );
  $('events-empty').hidden = page.events.length > 0;
  $('events').hidden = page.events.length === 0;
  $('events-newer').disabled = cursors.length === 1;
  $('events-older').disabled = nextBefore === null;
  // One page only: no paging buttons at all.
  $('events-newer').parentElement.hidden = cursors.length === 1 && nextBefore === null;
}

function renderTwoFactor(me) {
  const owner = me.user.role === 'owner';
  if (twoFactor.enabled) {
    const people = typeof twoFactor.dashboard_users === 'number' ? ` (${people_(twoFactor.dashboard_users)})` : '';
    $('security-state').textContent =
      `On since ${when(twoFactor.enabled_at)}. Everyone with dashboard access${people} enters a code from their email when they log in.`;
  } else {
    $('security-state').textContent = 'Off. People log in to the dashboard with their password only.';
  }
  $('security-enable').hidden = twoFactor.enabled;
  $('security-disable').hidden = !(twoFactor.enabled && owner);
  $('security-owner-only').hidden = !(twoFactor.enabled && !owner);
}

function people_(n) {
  return n === 1 ? '1 person' : `${n} people`;
}

register('security', {
  async enter({ status = null, keepPage = false } = {}) {
    if (!keepPage) cursors = [null];
    try {
      const me = await loadMe();
      $('security-company').textContent = `My Company: ${me.company.name}`;
      twoFactor = await companySecurity();
      renderTwoFactor(me);
      renderPolicy(me, await signInPolicy());
      // "End every session in the company" (sessions.js) is an owner's.
      $('end-all').hidden = me.user.role !== 'owner';
      await loadEvents();
      if (status) showStatus(root, status);
    } catch (error) {
      if (error.code !== 'unauthenticated') showError(root, describe(error));
    }
  },
});

$('events-older').addEventListener('click', async () => {
  if (nextBefore === null) return;
  cursors.push(nextBefore);
  await pageChanged();
});
$('events-newer').addEventListener('click', async () => {
  if (cursors.length === 1) return;
  cursors.pop();
  await pageChanged();
});

async function pageChanged() {
  try {
    await loadEvents();
    // The pressed button may now be disabled: keep focus in the table's neighbourhood.
    $('events-title').setAttribute('tabindex', '-1');
    $('events-title').focus();
  } catch (error) {
    if (error.code !== 'unauthenticated') showError(root, describe(error));
  }
}

// ---- The sign-in policy (SPEC §13, §14; owners change it) ---------------------------------

const policyForm = $('policy-form');

function renderPolicy(me, policy) {
  const owner = me.user.role === 'owner';
  const methods = policy.methods === 'any' ? 'any of their methods (an authenticator app, or email)' : 'codes by email only';
  const ask =
    policy.ask === 'per_browser'
      ? `once per browser: a browser can be remembered for ${policy.remember_days === 1 ? '1 day' : `${policy.remember_days} days`}`
      : 'at every login';
  const applies = twoFactor && twoFactor.enabled ? '' : 'It applies once two-factor authentication is on: ';
  $('policy-state').textContent = `${applies}People use ${methods}, and are asked ${ask}.`;
  for (const input of policyForm.querySelectorAll('input[type=radio]')) {
    input.checked = input.value === policy.methods || input.value === policy.ask;
    input.disabled = !owner;
  }
  $('policy-days').value = String(policy.remember_days);
  $('policy-days').disabled = !owner;
  $('policy-owner').hidden = !owner;
  $('policy-readonly').hidden = owner;
  $('policy-password').value = '';
}

policyForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const days = Number($('policy-days').value);
  if (!Number.isInteger(days) || days < 1 || days > 30) {
    showError(root, 'Choose between 1 and 30 days for a remembered browser.');
    $('policy-days').focus();
    return;
  }
  if ($('policy-password').value === '') {
    showError(root, 'Enter your password to confirm the change.');
    $('policy-password').focus();
    return;
  }
  const change = {
    methods: policyForm.querySelector('input[name=policy-methods]:checked')?.value,
    ask: policyForm.querySelector('input[name=policy-ask]:checked')?.value,
    remember_days: days,
  };
  try {
    const policy = await whileBusy(policyForm, () => changeSignInPolicy(change, $('policy-password').value));
    renderPolicy(currentMe(), policy);
    showStatus(root, 'The sign-in policy is saved. Every owner gets an email about the change; remembered browsers were forgotten.');
    await loadEvents();
  } catch (error) {
    if (error.code === 'unauthenticated') return;
    showError(root, describe(error));
    $('policy-password').value = '';
    $('policy-password').focus();
  }
});

// ---- Activation -------------------------------------------------------------------------

$('security-enable').addEventListener('click', () => go('protect'));

register('protect');

$('protect-start').addEventListener('click', async (event) => {
  const button = event.currentTarget;
  try {
    const activation = await whileBusy(button, () => startActivation());
    await activationCode(activation);
  } catch (error) {
    if (error.code === 'already_enabled') return go('security', { status: describe(error) });
    if (error.code !== 'unauthenticated') showError(section('protect'), describe(error));
  }
});

function activationCode(activation) {
  return showCode({
    kind: 'activation',
    state: activation,
    refresh: () => viewActivation(activation.id),
    resend: () => resendActivationCode(activation.id),
    verify: (code) => verifyActivationCode(activation.id, code),
    done: () => go('enable', { activationId: activation.id }),
    restart: () => go('protect'),
    cancel: () => go('security'),
  });
}

let activationId = null;

register('enable', {
  async enter({ activationId: id }) {
    activationId = id;
    const me = currentMe();
    const company = me ? me.company.name : 'your company';
    $('enable-count').textContent = `Two-factor authentication will apply to everyone with dashboard access at ${company}.`;
    try {
      const state = await companySecurity();
      if (typeof state.dashboard_users === 'number') {
        $('enable-count').textContent =
          `It will apply to ${people_(state.dashboard_users)} with dashboard access at ${company}, you included. ` +
          'Each of them will enter a code from their email when they log in.';
      }
    } catch (error) {
      if (error.code !== 'unauthenticated') showError(section('enable'), describe(error));
    }
  },
});

$('enable-confirm').addEventListener('click', async (event) => {
  const button = event.currentTarget;
  try {
    await whileBusy(button, () => enableTwoFactor(activationId));
    await go('security', { status: 'Two-factor authentication is on.' });
  } catch (error) {
    if (error.code !== 'unauthenticated') showError(section('enable'), describe(error));
  }
});

// ---- Disable (owners only) ----------------------------------------------------------------

const dialog = $('disable-dialog');
const disableForm = $('disable-form');
const password = $('disable-password');

$('security-disable').addEventListener('click', () => {
  const me = currentMe();
  $('disable-company').textContent = me ? me.company.name : 'your company';
  $('disable-error').textContent = '';
  password.value = '';
  dialog.showModal();
  password.focus();
});

function closeDialog() {
  dialog.close();
}

dialog.addEventListener('close', () => {
  password.value = '';
  const button = $('security-disable');
  if (!button.hidden) button.focus();
});

$('disable-cancel').addEventListener('click', closeDialog);

disableForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  $('disable-error').textContent = '';
  if (password.value === '') {
    $('disable-error').textContent = 'Enter your password to confirm.';
    password.focus();
    return;
  }
  try {
    await whileBusy(disableForm, () => disableTwoFactor(password.value));
    closeDialog();
    await go('security', { status: 'Two-factor authentication is off.' });
  } catch (error) {
    if (error.code === 'unauthenticated') return;
    $('disable-error').textContent = describe(error);
    password.value = '';
    password.focus();
  }
});
