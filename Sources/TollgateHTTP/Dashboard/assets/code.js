// Code entry, shared by the login and the activation flows (SPEC §2, §3.1, §3.2): the masked
// address, a live countdown to the code's expiry, tries and new codes left, the email's
// delivery state followed live, "Send a new code" with its cooldown, and the restart message
// once the challenge is closed.
//
// A flow given to `go('code', {flow})` supplies:
//   kind: 'login' | 'activation'; state: a Challenge or Activation (SPEC §4);
//   refresh(), resend(): the new state; verify(code, {method, rememberBrowser}): the API's answer;
//   done(answer): after a right code; restart(), cancel().
// A login may also offer an authenticator app (SPEC §13): state.methods lists the methods and
// state.method the one to open with; chooseEmail() mails the first code when the user picks
// email; state.remember_browser_days offers "Don't ask again on this browser".
// A login offering a passkey ('passkey' in state.methods) shows "Use your passkey" instead of a
// code field: passkeyOptions() gives the WebAuthn request options, the browser's dialog the
// credential, and passkeyVerify(credential, {rememberBrowser}) the API's answer (as verify).

import { ApiError, deliveryIsFinal, pollDelivery } from './api.js';
import { describe, duration } from './errors.js';
import { $, register, go, section, showError, showStatus, clock, minutesSeconds, every } from './ui.js';
import { ceremonyWords, isCeremonyError, usePasskey } from './webauthn.js';

// When a 429 carries no readable Retry-After (a cross-origin API that does not expose it).
const FALLBACK_COOLDOWN_S = 30;

const root = section('code');
const form = $('code-form');
const input = $('code-input');
const resendButton = $('code-resend');

let flow = null;
let info = null;
let closed = false;
let lastSendAt = 0; // when the latest code was sent (ms); the cooldown counts from it
let learnedCooldown = null; // seconds, once a 429 told us the server's cooldown
let cooldownUntil = 0;
let stopTick = () => {};
let stopPoll = () => {};
let lastDelivery = '';
let firstAttempts = 0; // tries left when the screen opened: the passkey's count shows once one is used
let mode = 'email'; // the second step: a code from 'email' or 'totp' (an authenticator app), or a 'passkey'

const DELIVERY = {
  queued: ['Sending the email…', ''],
  sent: ['The email has been sent. It may take a minute to arrive; look in your spam folder too.', 'good'],
  failed: ['The email could not be delivered. Check with your administrator that your address is right.', 'bad'],
  expired: ['The email could not be sent before its code expired. Send a new code.', 'bad'],
};

function plural(n, one, many) {
  return n === 1 ? one : many.replace('#', String(n));
}

function secondsLeft(untilMs) {
  return (untilMs - Date.now()) / 1000;
}

function codeUsable() {
  // An app's codes do not expire with the emailed code's ten minutes.
  return info.attempts_remaining > 0 && (mode !== 'email' || secondsLeft(Date.parse(info.code_expires_at)) > 0);
}

function offers(method) {
  return (info.methods || ['email']).includes(method);
}

/// The texts and controls of the current mode: a code from the email or the app, or a passkey.
function applyMode() {
  const app = mode === 'totp';
  const key = mode === 'passkey';
  const login = flow.kind === 'login';
  $('code-title').textContent = key ? 'Use your passkey' : app ? 'Enter the code from your app' : login ? 'Check your email' : 'Enter the code';
  $('code-lead').textContent = key
    ? 'Your browser will ask for the passkey you added for this account, on this device, your phone or a security key'
    : app
      ? 'Open your authenticator app and enter the 6-digit code it shows for this account'
      : login
        ? 'We sent a 6-digit code to'
        : 'To make sure our emails reach you, we sent a 6-digit code to';
  $('code-label').textContent = app ? 'Code from your authenticator app' : 'Code from the email';
  for (const id of ['code-to', 'code-delivery', 'code-expiry', 'code-resends', 'code-resend-row']) $(id).hidden = app || key;
  $('code-form').hidden = key;
  $('code-passkey').hidden = !key;
  $('code-use-email').hidden = !(mode !== 'email' && offers('email'));
  $('code-use-app').hidden = !(mode !== 'totp' && offers('totp'));
  $('code-use-passkey').hidden = !(mode !== 'passkey' && offers('passkey'));
  $('code-switch-row').hidden = $('code-use-email').hidden && $('code-use-app').hidden && $('code-use-passkey').hidden;
  const days = login ? info.remember_browser_days : null;
  for (const row of ['code-remember', 'code-passkey-remember']) {
    $(`${row}-row`).hidden = !days;
    $(row).checked = false;
    if (days) $(`${row}-label`).textContent = `Don't ask again on this browser for ${plural(days, '1 day', '# days')}`;
  }
}

function render() {
  $('code-hint').textContent = mode === 'totp' ? '' : info.email_hint;
  const delivery = DELIVERY[info.delivery] || ['', ''];
  if (info.delivery !== lastDelivery) {
    // Only on change: the line is a live region, and repeating it would be noise.
    lastDelivery = info.delivery;
    $('code-delivery').textContent = delivery[0];
    $('code-delivery').className = `delivery ${delivery[1]}`;
  }
  $('code-attempts').textContent =
    info.attempts_remaining > 0
      ? mode === 'totp'
        ? plural(info.attempts_remaining, '1 try left.', '# tries left.')
        : plural(info.attempts_remaining, '1 try left for this code.', '# tries left for this code.')
      : 'This code cannot be used any more.';
  $('code-passkey-attempts').textContent =
    info.attempts_remaining >= firstAttempts
      ? ''
      : info.attempts_remaining > 0
        ? plural(info.attempts_remaining, '1 try left.', '# tries left.')
        : 'No tries are left for this login.';
  $('code-resends').textContent =
    info.resends_remaining > 0 ? plural(info.resends_remaining, '1 new code left.', '# new codes left.') : 'No new codes left.';
  tick();
}

/// Once a second: the expiry countdown and the resend cooldown.
function tick() {
  if (!info || closed) return;
  if (mode !== 'email') {
    $('code-attempts').hidden = false;
    $('code-submit').disabled = !codeUsable();
    $('code-passkey-use').disabled = !codeUsable();
    return;
  }
  const left = secondsLeft(Date.parse(info.code_expires_at));
  $('code-expiry').textContent =
    left > 0
      ? `The code expires in ${minutesSeconds(left)} (at ${clock(info.code_expires_at)}).`
      : `This code has expired.${info.resends_remaining > 0 && info.delivery !== 'expired' ? ' Send a new code.' : ''}`;
  $('code-expiry').className = left > 0 ? '' : 'bad';
  // Tries left mean nothing for an expired code.
  $('code-attempts').hidden = left <= 0;
  $('code-submit').disabled = !codeUsable();
  if (left <= 0 && info.resends_remaining === 0) {
    close('The last code has expired and no new code can be sent.');
    return;
  }
  const wait = secondsLeft(cooldownUntil);
  if (info.resends_remaining === 0) {
    resendButton.disabled = true;
    resendButton.textContent = 'Send a new code';
    $('code-cooldown').textContent = '';
  } else if (wait > 0) {
    resendButton.disabled = true;
    resendButton.textContent = `Send a new code (${Math.ceil(wait)} s)`;
    $('code-cooldown').textContent = '';
  } else {
    resendButton.disabled = false;
    resendButton.textContent = 'Send a new code';
  }
}

/// Follows the email's delivery state while it is on its way (api.js's poll: the network or a
/// busy server is retried at the next tick; a refusal ends it).
function startPolling() {
  stopPoll();
  if (mode !== 'email' || info.delivery === 'not_sent' || deliveryIsFinal(info.delivery)) return;
  const onClosed = (error) => {
    if (error.code === 'challenge_closed' || error.code === 'challenge_not_found') close(closedReason(error));
  };
  stopPoll = pollDelivery(flow.refresh, (state) => {
    info = state;
    if (info.status === 'closed') return close(closedReason({ code: 'challenge_closed' }));
    render();
  }, onClosed);
}

function closedReason(error) {
  if (error.code === 'challenge_not_found') return 'It was replaced by a newer request, or it is unknown.';
  return (
    'It was closed: its codes expired or were entered wrongly too many times, a newer request replaced it, ' +
    'or it was reported as not you.'
  );
}

function close(reason) {
  if (closed) return;
  closed = true;
  stopPoll();
  $('code-open').hidden = true;
  $('code-closed').hidden = false;
  // What was said about the closed challenge's code and email no longer matters.
  $('code-intro').hidden = true;
  $('code-delivery').hidden = true;
  $('code-cancel').hidden = true;
  const what = flow.kind === 'login' ? 'This login' : 'This check of your email';
  const again =
    flow.kind !== 'login'
      ? 'Start again to get a new code.'
      : offers('email')
        ? 'Log in again with your password to get a new code.'
        : 'Log in again with your password, then use your passkey.';
  showError(root, `${what} cannot go on. ${reason}`);
  $('code-closed-text').textContent = again;
  $('code-closed-title').focus();
}

function sent(state) {
  info = state;
  lastSendAt = Date.now();
  // The server's cooldown, where a 429 has taught it to us (SPEC §2: 30 s by default).
  cooldownUntil = learnedCooldown === null ? 0 : lastSendAt + learnedCooldown * 1000;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (closed) return;
  // Spaces and dashes are fine ("123 456"); the server ignores them.
  const code = input.value.trim();
  if (code === '') {
    showError(root, mode === 'totp' ? 'Enter the 6-digit code from your authenticator app.' : 'Enter the 6-digit code from the email.');
    input.focus();
    return;
  }
  try {
    const answer = await busy(() => flow.verify(code, { method: mode, rememberBrowser: $('code-remember').checked }));
    stopAll();
    await flow.done(answer);
  } catch (error) {
    refused(error);
  }
});

function refused(error) {
  if (!(error instanceof ApiError)) {
    showError(root, describe(error));
    return;
  }
  if (error.attemptsRemaining !== null) info.attempts_remaining = error.attemptsRemaining;
  if (error.resendsRemaining !== null) info.resends_remaining = error.resendsRemaining;
  switch (error.code) {
    case 'invalid_passkey':
      render();
      showError(root, describe(error));
      $('code-passkey-use').focus();
      return;
    case 'invalid_code':
      render();
      showError(root, describe(error));
      input.value = '';
      input.focus();
      return;
    case 'too_many_attempts':
      info.attempts_remaining = 0;
      // A login that offers passkeys only has no email to fall back on: it starts again.
      if (!offers('email')) return close('A passkey was refused too many times.');
      if (info.resends_remaining === 0) return close('The code was entered wrongly too many times and no new code can be sent.');
      render();
      if (mode !== 'email' && offers('email')) {
        showError(root, `${mode === 'passkey' ? 'A passkey was refused' : 'That code was wrong'} too many times. Get a code by email instead.`);
        $('code-use-email').focus();
        return;
      }
      showError(root, describe(error));
      resendButton.focus();
      return;
    case 'code_expired':
      info.code_expires_at = new Date(Math.min(Date.now(), Date.parse(info.code_expires_at))).toISOString();
      if (info.resends_remaining === 0) return close('The last code has expired and no new code can be sent.');
      render();
      showError(root, describe(error));
      return;
    default:
      return refusedEither(error);
  }
}

// What a wrong code and a refused new code have in common: a closed or unknown challenge
// ends the screen; any other refusal is said as it is.
function refusedEither(error) {
  if (error.code === 'challenge_closed' || error.code === 'challenge_not_found') return close(closedReason(error));
  showError(root, describe(error));
}

resendButton.addEventListener('click', async () => {
  if (closed || resendButton.disabled) return;
  try {
    sent(await busy(() => flow.resend()));
    lastDelivery = '';
    render();
    showStatus(root, `We sent a new code to ${info.email_hint}. Earlier codes no longer work.`);
    input.value = '';
    input.focus();
    startPolling();
  } catch (error) {
    if (!(error instanceof ApiError)) return showError(root, describe(error));
    switch (error.code) {
      case 'resend_too_soon': {
        const wait = error.retryAfter ?? FALLBACK_COOLDOWN_S;
        cooldownUntil = Date.now() + wait * 1000;
        if (error.retryAfter !== null && lastSendAt) learnedCooldown = Math.round((Date.now() - lastSendAt) / 1000) + wait;
        tick();
        showError(root, `Please wait before asking for a new code: you can ask again in ${duration(wait)}.`);
        input.focus();
        return;
      }
      case 'resend_limit_reached':
        info.resends_remaining = 0;
        if (!codeUsable()) return close('No new code can be sent for it.');
        render();
        showError(root, 'No more new codes can be sent. Enter the latest code, or start again.');
        return;
      default:
        return refusedEither(error);
    }
  }
});

/// Disables the form's controls during a request.
async function busy(work) {
  const controls = [input, $('code-submit'), resendButton, $('code-passkey-use')];
  for (const control of controls) control.disabled = true;
  root.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    root.removeAttribute('aria-busy');
    input.disabled = false;
    tick();
  }
}

function stopAll() {
  stopTick();
  stopPoll();
  stopTick = () => {};
  stopPoll = () => {};
}

// "Use email instead": the first emailed code of a login that offered the app.
$('code-use-email').addEventListener('click', async () => {
  if (closed) return;
  try {
    const state = await busy(() => flow.chooseEmail());
    mode = 'email';
    sent(state);
    lastDelivery = '';
    applyMode();
    render();
    showStatus(root, `We sent a code to ${info.email_hint}.`);
    input.value = '';
    input.focus();
    startPolling();
  } catch (error) {
    if (error instanceof ApiError) return refusedEither(error);
    showError(root, describe(error));
  }
});

$('code-use-app').addEventListener('click', () => {
  if (closed) return;
  mode = 'totp';
  stopPoll();
  applyMode();
  render();
  showStatus(root, 'Enter the code your authenticator app shows now.');
  input.value = '';
  input.focus();
});

$('code-use-passkey').addEventListener('click', () => {
  if (closed) return;
  mode = 'passkey';
  stopPoll();
  applyMode();
  render();
  showStatus(root, 'Press “Use your passkey” and follow your browser’s instructions.');
  $('code-passkey-use').focus();
});

// The passkey itself: request options, the browser's dialog, the API's check.
$('code-passkey-use').addEventListener('click', async () => {
  if (closed) return;
  try {
    const answer = await busy(async () => {
      const credential = await usePasskey(await flow.passkeyOptions());
      return flow.passkeyVerify(credential, { rememberBrowser: $('code-passkey-remember').checked });
    });
    stopAll();
    await flow.done(answer);
  } catch (error) {
    if (!isCeremonyError(error)) return refused(error);
    showError(root, ceremonyWords(error, false));
    $('code-passkey-use').focus();
  }
});

$('code-restart').addEventListener('click', () => flow.restart());
$('code-cancel').addEventListener('click', () => {
  stopAll();
  flow.cancel();
});

register('code', {
  enter({ flow: given }) {
    flow = given;
    closed = false;
    lastDelivery = '';
    sent(flow.state);
    firstAttempts = info.attempts_remaining;
    // The screen opens with the method the server named, if this page knows it.
    mode = ['passkey', 'totp'].includes(flow.state.method) && offers(flow.state.method) ? flow.state.method : 'email';
    $('code-submit').textContent = flow.kind === 'login' ? 'Log in' : 'Next';
    $('code-restart').textContent = flow.kind === 'login' ? 'Log in again' : 'Start again';
    $('code-cancel').textContent = flow.kind === 'login' ? 'Cancel and go back to log in' : 'Cancel';
    for (const id of ['code-open', 'code-intro', 'code-delivery', 'code-cancel']) $(id).hidden = false;
    $('code-closed').hidden = true;
    applyMode();
    input.value = '';
    input.disabled = false;
    render();
    stopTick = every(1000, tick);
    // A login that mailed nothing yet, opening on email (a method this page does not know
    // was named first): email is picked at once, so the screen's words are true.
    if (mode === 'email' && info.delivery === 'not_sent') $('code-use-email').click();
    else startPolling();
  },
  leave() {
    stopAll();
  },
});

export function showCode(given) {
  return go('code', { flow: given });
}
