// "This wasn't me", /not-me#token=… (SPEC §10). Opening the link changes nothing (mail
// scanners open links); one press of the button reports the login.

import { reportNotMe } from './api.js';
import { describe } from './errors.js';
import { $, register, go, section, showError, showStatus, whileBusy } from './ui.js';

const root = section('notme');

let token = null;

$('notme-report').addEventListener('click', async (event) => {
  const button = event.currentTarget;
  try {
    await whileBusy(button, () => reportNotMe(token));
    token = null;
    $('notme-ask').hidden = true;
    $('notme-title').textContent = 'Login stopped';
    $('notme-after').hidden = false;
    showStatus(
      root,
      "Thank you. We stopped that login (if the code had been entered already, we ended the session it opened) and told your company's owners.",
    );
    $('notme-change').focus();
  } catch (error) {
    if (error.code === 'token_invalid') {
      $('notme-ask').hidden = true;
      showError(root, 'This link has expired or has already been used. If someone else has your password, change it now.');
      $('notme-after').hidden = false;
      return;
    }
    showError(root, describe(error));
  }
});

$('notme-change').addEventListener('click', () => go('forgot'));

register('notme', {
  path: '/not-me',
  enter({ token: given = null } = {}) {
    token = given;
    $('notme-title').textContent = 'Was this login not you?';
    $('notme-ask').hidden = !token;
    $('notme-after').hidden = true;
    if (!token) {
      showError(root, 'This link is not complete. Open it again from the email, or change your password if someone else has it.');
      $('notme-after').hidden = false;
    }
  },
});
