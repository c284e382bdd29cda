// My Company → Security (SPEC §3.1, §3.3): the 2FA state, the activation flow ("Protect your
// company accounts" → Start → code → Next → confirmation → Enable), the owner-only disable
// with a password, and the company's event log. The sign-in policy form is policy.js's.

import { companySecurity, disableTwoFactor, enableTwoFactor, resendActivationCode, signInMethods, signInPolicy } from './api.js';
import { securityEvents, startActivation, verifyActivationCode, viewActivation } from './api.js';
import { showCode } from './code.js';
import { describe } from './errors.js';
import { browserWords, eventWords } from './event-words.js';
import { currentMe, loadMe } from './home.js';
import { renderPolicy, whenPolicySaved } from './policy.js';
import { $, register, go, section, showError, showStatus, whileBusy, when } from './ui.js';

const root = section('security');
const EVENTS_PER_PAGE = 10;

let twoFactor = null;
// Paging: the `before` cursor of each page shown so far (null: the newest page).
let cursors = [null];
let nextBefore = null;

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
      `On since ${when(twoFactor.enabled_at)}. Everyone with dashboard access${people} takes a second step after the password ` +
      'when they log in: a code from their email or app, or a passkey, as the sign-in policy below allows.';
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
      // An owner about to require passkeys is warned if they have none themselves.
      const mine = me.user.role === 'owner' ? await signInMethods() : [];
      renderPolicy(me, await signInPolicy(), {
        twoFactorEnabled: twoFactor.enabled,
        hasPasskey: me.user.role !== 'owner' || mine.some((method) => method.kind === 'passkey'),
      });
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

whenPolicySaved(loadEvents);

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
