// Adding a passkey (SPEC §13, §13.1): a name, the password when the login's second step is not
// recent, then the API's creation options → the browser's own passkey dialog → the credential
// back to the API. Two screens do it: "Add a passkey" from the sign-in methods, and the
// enrolment screen that is all a session may see when the company requires passkeys and the
// user has none (then: log out, and log in again with the new passkey).

import { logout, passkeyCreationOptions, registerPasskey, session } from './api.js';
import { describe } from './errors.js';
import { $, go, register, section, showError, showStatus, whileBusy } from './ui.js';
import { ceremonyWords, createPasskey, isCeremonyError } from './webauthn.js';

/// Options, the browser's ceremony, registration: the new Method.
async function addPasskey(name, password) {
  const options = await passkeyCreationOptions(password);
  const credential = await createPasskey(options);
  return registerPasskey(name, credential);
}

/// One form that adds a passkey: its name field, the password field shown when the server asks
/// for it, and where its messages go.
function passkeyForm({ root, form, name, passwordField, password, added }) {
  const reset = () => {
    name.value = '';
    password.value = '';
    passwordField.hidden = true;
    form.hidden = false;
  };
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = name.value.trim();
    const asked = !passwordField.hidden;
    if (chosen === '') {
      showError(root, 'Give the passkey a name, for example “Work laptop”.');
      name.focus();
      return;
    }
    if (asked && password.value === '') {
      showError(root, 'Enter your password to confirm it is you.');
      password.focus();
      return;
    }
    showStatus(root, 'Follow your browser’s instructions to make the passkey…');
    try {
      const method = await whileBusy(form, () => addPasskey(chosen, asked ? password.value : undefined));
      password.value = '';
      await added(method);
    } catch (error) {
      failed(error, asked);
    }
  });

  function failed(error, asked) {
    if (isCeremonyError(error)) {
      showError(root, ceremonyWords(error, true));
      form.querySelector('button[type=submit]').focus();
      return;
    }
    if (error.code === 'unauthenticated') return;
    if (error.code === 'reauthentication_required') {
      // Not a recent second step: the password confirms it instead.
      showError(root, asked ? 'That password is not right.' : 'Please enter your password to confirm it is you.');
      passwordField.hidden = false;
      password.value = '';
      password.focus();
      return;
    }
    if (error.code === 'method_limit_reached') {
      showError(root, 'You have ten passkeys, the most an account can have. Remove one to add another.');
      return;
    }
    showError(root, describe(error));
    if (error.field === 'name') name.focus();
  }

  return reset;
}

// ---- From the sign-in methods ----------------------------------------------------------------

const resetAdd = passkeyForm({
  root: section('addpasskey'),
  form: $('addpasskey-form'),
  name: $('addpasskey-name'),
  passwordField: $('addpasskey-password-field'),
  password: $('addpasskey-password'),
  added: (method) => go('methods', { status: `“${method.name}” is added. You can log in with it from now on.` }),
});

register('addpasskey', {
  enter() {
    resetAdd();
  },
  leave() {
    $('addpasskey-password').value = '';
  },
});

// ---- Enrolment only ------------------------------------------------------------------------

const enrolRoot = section('enrol');

const resetEnrol = passkeyForm({
  root: enrolRoot,
  form: $('enrol-form'),
  name: $('enrol-name'),
  passwordField: $('enrol-password-field'),
  password: $('enrol-password'),
  added: (method) => {
    // The session stays one that may only add a passkey: the next step is a login with it.
    // The panel below says what happened; the progress line above it is done.
    showStatus(enrolRoot, '');
    $('enrol-form').hidden = true;
    $('enrol-done').hidden = false;
    $('enrol-done-text').textContent =
      `“${method.name}” is your passkey now. Log out, then log in again with your email address and password, ` +
      'and choose “Use your passkey”.';
    $('enrol-logout').classList.add('primary');
    $('enrol-done-title').focus();
  },
});

register('enrol', {
  enter({ me = null } = {}) {
    // Nothing else is open to this session: no navigation, only this form and logging out.
    $('nav').hidden = true;
    resetEnrol();
    $('enrol-done').hidden = true;
    $('enrol-logout').classList.remove('primary');
    $('enrol-company').textContent = me ? me.company.name : 'Your company';
  },
});

$('enrol-logout').addEventListener('click', async () => {
  try {
    await logout();
  } catch {
    // Logged out on the server or not, this tab forgets the session.
  }
  session.clear();
  const added = !$('enrol-done').hidden;
  go('login', { status: added ? 'You are logged out. Log in again, and use your new passkey.' : 'You are logged out.' });
});
