// Log in (SPEC §3.2): email and password; a 202 leads to code entry, a 200 straight home.

import { login, resendLoginCode, session, verifyLoginCode, viewLoginChallenge } from './api.js';
import { showCode } from './code.js';
import { describe } from './errors.js';
import { register, go, section, showError, showStatus, whileBusy } from './ui.js';

const root = section('login');
const form = document.getElementById('login-form');
const email = document.getElementById('login-email');
const password = document.getElementById('login-password');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (email.value.trim() === '' || password.value === '') {
    showError(root, 'Enter your email address and your password.');
    (email.value.trim() === '' ? email : password).focus();
    return;
  }
  try {
    const answer = await whileBusy(form, () => login(email.value.trim(), password.value));
    password.value = '';
    if (answer.challenge) {
      await loginCode(answer.challenge, email.value.trim());
    } else {
      session.set(answer.session);
      await go('home', { status: 'You are logged in.' });
    }
  } catch (error) {
    showError(root, describe(error));
    if (error.code === 'invalid_credentials') {
      password.value = '';
      password.focus();
    }
  }
});

/// The code step of a login; the challenge token stays in this closure, never in storage or a URL.
function loginCode(challenge, address) {
  const token = challenge.token;
  return showCode({
    kind: 'login',
    state: challenge,
    refresh: () => viewLoginChallenge(token),
    resend: () => resendLoginCode(token),
    verify: (code) => verifyLoginCode(token, code),
    done: (opened) => {
      session.set(opened);
      return go('home', { status: 'You are logged in.' });
    },
    restart: () => go('login', { email: address }),
    cancel: () => go('login', { email: address }),
  });
}

register('login', {
  enter({ email: address = '', error = null, status = null } = {}) {
    email.value = address;
    password.value = '';
    if (error) showError(root, error);
    if (status) showStatus(root, status);
  },
});
