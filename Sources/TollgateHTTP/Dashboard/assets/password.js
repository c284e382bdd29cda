// Password change on the home screen (SPEC §10): POST /v1/account/password.

import { changePassword } from './api.js';
import { describe } from './errors.js';
import { $, passwordLengthProblem, whileBusy } from './ui.js';

const form = $('password-form');
const current = $('password-current');
const next = $('password-new');
const error = $('password-error');
const status = $('password-status');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.textContent = '';
  status.textContent = '';
  // "You are logged in" and the like no longer apply.
  document.querySelector('#screen-home [data-status]').textContent = '';
  if (current.value === '' || next.value === '') {
    error.textContent = 'Enter your current password and a new one.';
    (current.value === '' ? current : next).focus();
    return;
  }
  const problem = passwordLengthProblem(next);
  if (problem) {
    error.textContent = problem;
    next.focus();
    return;
  }
  try {
    await whileBusy(form, () => changePassword(current.value, next.value));
    current.value = '';
    next.value = '';
    status.textContent = 'Your password has been changed. Your other sessions were logged out.';
  } catch (failure) {
    if (failure.code === 'reauthentication_required') {
      error.textContent = 'Your current password is not right.';
      current.value = '';
      current.focus();
    } else {
      error.textContent = describe(failure);
      if (failure.code === 'password_rejected') next.focus();
    }
  }
});
