// Reset password from an emailed link, /reset#token=… (SPEC §10). app.js takes the token from
// the fragment and drops it from the address bar before this screen shows.

import { resetPassword } from './api.js';
import { describe } from './errors.js';
import { $, register, go, passwordLengthProblem, section, showError, showStatus, whileBusy } from './ui.js';

const root = section('reset');
const form = $('reset-form');
const password = $('reset-password');
const again = $('reset-again');

let token = null;

function linkUnusable() {
  form.hidden = true;
  $('reset-again-link').hidden = false;
  showError(root, 'This link has expired or has already been used. Ask for a new one.');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const problem = passwordLengthProblem(password);
  if (problem) {
    showError(root, problem);
    password.focus();
    return;
  }
  if (password.value !== again.value) {
    showError(root, 'The two passwords are not the same.');
    again.value = '';
    again.focus();
    return;
  }
  try {
    await whileBusy(form, () => resetPassword(token, password.value));
    token = null;
    form.hidden = true;
    $('reset-title').textContent = 'Password changed';
    $('reset-after').hidden = false;
    showStatus(root, 'Your password has been changed, and every session of your account was logged out. Log in with the new password.');
    $('reset-login').focus();
  } catch (error) {
    if (error.code === 'token_invalid') return linkUnusable();
    showError(root, describe(error));
    if (error.code === 'password_rejected') password.focus();
  } finally {
    password.value = '';
    again.value = '';
  }
});

$('reset-login').addEventListener('click', () => go('login'));
$('reset-forgot').addEventListener('click', () => go('forgot'));

register('reset', {
  path: '/reset',
  enter({ token: given = null } = {}) {
    token = given;
    $('reset-title').textContent = 'Choose a new password';
    form.hidden = false;
    $('reset-after').hidden = true;
    $('reset-again-link').hidden = true;
    if (!token) linkUnusable();
  },
});
