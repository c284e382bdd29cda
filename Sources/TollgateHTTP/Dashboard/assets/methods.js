// Your sign-in methods (SPEC §13, §13.1): the list (email first, then passkeys and authenticator
// apps), "Add a passkey" (passkeys.js), adding an app (a name, the password when the login code is not recent, the QR code and key,
// then a code from the app) and removing one with a confirmation.
//
// The app's secret arrives once, in the enrollment; it lives in this module's variables and
// the page only while the "add" screen is shown, and is dropped when it is left.

import { confirmAuthenticatorApp, removeSignInMethod, signInMethods, startAuthenticatorApp } from './api.js';
import { describe } from './errors.js';
import { currentMe, loadMe } from './home.js';
import { $, clear, go, register, section, showError, showStatus, when, whileBusy } from './ui.js';

const root = section('methods');
const addRoot = section('addapp');
const MAX_APPS = 2;
const MAX_PASSKEYS = 10;

const KINDS = {
  email: 'Codes by email',
  totp: 'Authenticator app',
  passkey: 'Passkey',
};

// ---- The list ----------------------------------------------------------------------------

function item(method, me) {
  const entry = document.createElement('li');
  const name = document.createElement('p');
  name.className = 'method-name';
  name.textContent = method.kind === 'email' ? `Email to ${me ? me.user.email : 'your address'}` : method.name;
  const facts = document.createElement('p');
  facts.className = 'quiet';
  const kind = KINDS[method.kind] || method.kind;
  facts.textContent =
    method.kind === 'email'
      ? `${kind}. Always available, and used when nothing else is.`
      : `${kind}. Added ${when(method.created_at)}. ${method.last_used_at ? `Last used ${when(method.last_used_at)}.` : 'Not used to log in yet.'}`;
  entry.append(name, facts);
  if (method.kind !== 'email') {
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Remove';
    // Every row has a Remove button: the accessible name says which one.
    remove.setAttribute('aria-label', `Remove ${method.name}`);
    remove.addEventListener('click', () => askRemove(method, remove));
    entry.append(remove);
  }
  return entry;
}

async function showList() {
  const [me, methods] = await Promise.all([currentMe() ? Promise.resolve(currentMe()) : loadMe(), signInMethods()]);
  $('methods-list').replaceChildren(...methods.map((method) => item(method, me)));
  const apps = methods.filter((method) => method.kind === 'totp').length;
  $('methods-add').hidden = apps >= MAX_APPS;
  $('methods-full').hidden = apps < MAX_APPS;
  const passkeys = methods.filter((method) => method.kind === 'passkey').length;
  $('methods-add-passkey').hidden = passkeys >= MAX_PASSKEYS;
  $('methods-passkeys-full').hidden = passkeys < MAX_PASSKEYS;
}

register('methods', {
  async enter({ status = null } = {}) {
    try {
      await showList();
      if (status) showStatus(root, status);
    } catch (error) {
      if (error.code !== 'unauthenticated') showError(root, describe(error));
    }
  },
});

$('methods-add').addEventListener('click', () => go('addapp'));
$('methods-add-passkey').addEventListener('click', () => go('addpasskey'));

// ---- Removing ------------------------------------------------------------------------------

const dialog = $('remove-dialog');
const removeForm = $('remove-form');
const removePassword = $('remove-password');
let removing = null;
let removeButton = null;

function askRemove(method, button) {
  removing = method;
  removeButton = button;
  $('remove-title').textContent = `Remove “${method.name}”?`;
  $('remove-text').textContent =
    method.kind === 'passkey'
      ? 'It will no longer log you in. Remove it from the device or password manager that holds it too. We will email you about the change.'
      : 'Its codes will no longer log you in. You can still use email, and add the app again later. We will email you about the change.';
  $('remove-error').textContent = '';
  $('remove-password-field').hidden = true;
  removePassword.value = '';
  dialog.showModal();
  $('remove-cancel').focus();
}

dialog.addEventListener('close', () => {
  removePassword.value = '';
  if (removeButton && removeButton.isConnected) removeButton.focus();
  else $('methods-title').focus();
});

$('remove-cancel').addEventListener('click', () => dialog.close());

removeForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  $('remove-error').textContent = '';
  const asked = !$('remove-password-field').hidden;
  if (asked && removePassword.value === '') {
    $('remove-error').textContent = 'Enter your password to confirm.';
    removePassword.focus();
    return;
  }
  try {
    await whileBusy(removeForm, () => removeSignInMethod(removing.id, asked ? removePassword.value : undefined));
    const { name, kind } = removing;
    dialog.close();
    await go('methods', { status: `“${name}” was removed. ${kind === 'passkey' ? 'It no longer logs' : 'Its codes no longer log'} you in.` });
  } catch (error) {
    if (error.code === 'unauthenticated') return;
    if (error.code === 'reauthentication_required') {
      // Not a recent login code: the password confirms it instead.
      $('remove-error').textContent = asked ? 'That password is not right.' : 'Please enter your password to confirm it is you.';
      $('remove-password-field').hidden = false;
      removePassword.value = '';
      removePassword.focus();
      return;
    }
    $('remove-error').textContent =
      error.code === 'last_required_method' && removing.kind === 'passkey'
        ? 'Your company requires a passkey, and this is your last one. Add another passkey first, then remove this one.'
        : describe(error);
  }
});

// ---- Adding an app -----------------------------------------------------------------------

const startForm = $('addapp-start');
const nameInput = $('addapp-name');
const passwordInput = $('addapp-password');
const confirmForm = $('addapp-confirm');
const codeInput = $('addapp-code');
let enrollment = null;

/// The key as people copy it by eye: groups of four.
function grouped(secret) {
  return secret.match(/.{1,4}/g).join(' ');
}

function forget() {
  enrollment = null;
  $('addapp-qr').removeAttribute('src');
  $('addapp-key').textContent = '';
  $('addapp-copied').textContent = '';
  passwordInput.value = '';
  codeInput.value = '';
}

register('addapp', {
  enter() {
    forget();
    nameInput.value = '';
    $('addapp-password-field').hidden = true;
    $('addapp-code-error').textContent = '';
    startForm.hidden = false;
    $('addapp-scan').hidden = true;
  },
  leave: forget,
});

startForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = nameInput.value.trim();
  const asked = !$('addapp-password-field').hidden;
  if (name === '') {
    showError(addRoot, 'Give the app a name, for example “Work phone”.');
    nameInput.focus();
    return;
  }
  if (asked && passwordInput.value === '') {
    showError(addRoot, 'Enter your password to confirm it is you.');
    passwordInput.focus();
    return;
  }
  try {
    enrollment = await whileBusy(startForm, () => startAuthenticatorApp(name, asked ? passwordInput.value : undefined));
    passwordInput.value = '';
    showScan(name);
  } catch (error) {
    if (error.code === 'unauthenticated') return;
    if (error.code === 'reauthentication_required') {
      showError(addRoot, asked ? 'That password is not right.' : 'Please enter your password to confirm it is you.');
      $('addapp-password-field').hidden = false;
      passwordInput.value = '';
      passwordInput.focus();
      return;
    }
    if (error.code === 'method_limit_reached') return go('methods', { status: describe(error) });
    showError(addRoot, describe(error));
    if (error.field === 'name') nameInput.focus();
  }
});

function showScan(name) {
  clear(addRoot);
  // The server's SVG as an image (a data: URL, allowed by the page's img-src): never parsed
  // into this page, so nothing in it could run here.
  $('addapp-qr').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrollment.qr_svg)}`;
  $('addapp-key').textContent = grouped(enrollment.secret);
  const issuer = new URLSearchParams(enrollment.otpauth_uri.split('?')[1] || '').get('issuer');
  $('addapp-issuer').textContent = issuer || 'this company';
  startForm.hidden = true;
  $('addapp-scan').hidden = false;
  document.title = `Add “${name}” · Tollgate`;
  $('addapp-scan-title').focus();
}

$('addapp-copy').addEventListener('click', async () => {
  if (!enrollment) return;
  try {
    await navigator.clipboard.writeText(enrollment.secret);
    $('addapp-copied').textContent = 'The key is copied. Paste it into the app.';
  } catch {
    // No clipboard (an insecure origin, or permission refused): select it for Ctrl+C.
    const selection = window.getSelection();
    const range = document.createRange();
    range.selectNodeContents($('addapp-key'));
    selection.removeAllRanges();
    selection.addRange(range);
    $('addapp-copied').textContent = 'The key is selected: copy it with Ctrl+C (or ⌘+C).';
  }
});

confirmForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('addapp-code-error');
  error.textContent = '';
  const code = codeInput.value.replace(/[\s-]/g, '');
  if (!/^\d{6}$/.test(code)) {
    error.textContent = 'Enter the 6 digits the app shows.';
    codeInput.focus();
    return;
  }
  try {
    const method = await whileBusy(confirmForm, () => confirmAuthenticatorApp(enrollment.id, code));
    await go('methods', { status: `“${method.name}” is added. You can log in with its codes from now on.` });
  } catch (failure) {
    if (failure.code === 'unauthenticated') return;
    if (failure.code === 'invalid_code') {
      error.textContent = 'That code is not right. Enter the code the app shows now; it changes every 30 seconds.';
    } else if (failure.code === 'not_found') {
      error.textContent = 'This setup has ended (it was replaced or finished elsewhere). Press Cancel and start again.';
    } else {
      error.textContent = describe(failure);
    }
    codeInput.value = '';
    codeInput.focus();
  }
});
