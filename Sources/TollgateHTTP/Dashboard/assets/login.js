// Log in (SPEC §3.2): email and password; a 202 leads to code entry, a 200 straight home.

import { chooseEmailCode, finishLogin, finishPasskeyLogin, login, loginPasskeyOptions, resendLoginCode, session, viewLoginChallenge } from './api.js';
import { showCode } from './code.js';
import { describe } from './errors.js';
import { register, go, section, showError, showStatus, whileBusy } from './ui.js';

const root = section('login');
const form = document.getElementById('login-form');
const email = document.getElementById('login-email');
const password = document.getElementById('login-password');

// A remembered browser's token (SPEC §14), per user: in localStorage under a name that
// includes the address, never in a URL. The server ignores a token that stopped working; this
// page then forgets it.
const rememberedKey = (address) => `tollgate.remembered.${address.toLowerCase()}`;
const remembered = {
  get: (address) => localStorage.getItem(rememberedKey(address)),
  set: (address, token) => localStorage.setItem(rememberedKey(address), token),
  forget: (address) => localStorage.removeItem(rememberedKey(address)),
};

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (email.value.trim() === '' || password.value === '') {
    showError(root, 'Enter your email address and your password.');
    (email.value.trim() === '' ? email : password).focus();
    return;
  }
  const address = email.value.trim();
  const browserToken = remembered.get(address);
  try {
    const answer = await whileBusy(form, () => login(address, password.value, browserToken));
    password.value = '';
    if (answer.challenge) {
      if (browserToken) remembered.forget(address);
      await loginCode(answer.challenge, address);
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
async function loginCode(challenge, address) {
  const token = challenge.token;
  const done = (answer) => {
    session.set(answer.session);
    if (answer.remembered_browser) remembered.set(address, answer.remembered_browser.token);
    return go('home', { status: 'You are logged in.' });
  };
  await showCode({
    kind: 'login',
    state: challenge,
    refresh: () => viewLoginChallenge(token),
    resend: () => resendLoginCode(token),
    chooseEmail: () => chooseEmailCode(token),
    verify: (code, options) => finishLogin(token, code, options),
    passkeyOptions: () => loginPasskeyOptions(token),
    passkeyVerify: (credential, options) => finishPasskeyLogin(token, credential, options),
    done,
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
