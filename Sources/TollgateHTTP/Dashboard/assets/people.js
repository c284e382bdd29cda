// People (owners and admins; SPEC §13 recovery): everyone in the company with the kinds of
// second factor they have, and "Reset sign-in methods", confirmed with the password, for
// someone who lost their phone or passkey. Nobody resets themselves here, and an admin does
// not reset an owner: those rows have no button.

import { describe } from './errors.js';
import { loadMe } from './home.js';
import { companyUsers, resetUserMethods } from './api.js';
import { $, go, register, section, showError, showStatus, whileBusy } from './ui.js';

const root = section('people');
const ROLES = { owner: 'Owner', admin: 'Admin', member: 'Member' };
const KINDS = { email: 'email', totp: 'authenticator app', passkey: 'passkey' };

let me = null;

/// "Email, 2 passkeys, authenticator app" from the kinds the user has (one entry per method).
function methodWords(user) {
  if (!user.dashboard_access) return 'Phone app only (no dashboard)';
  const counts = new Map();
  for (const kind of user.methods) counts.set(kind, (counts.get(kind) || 0) + 1);
  const parts = [...counts].map(([kind, n]) => {
    const word = KINDS[kind] || kind;
    return n > 1 ? `${n} ${word}s` : word;
  });
  const text = parts.join(', ') || 'email';
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function mayReset(user) {
  if (user.id === me.user.id) return false;
  return me.user.role === 'owner' || user.role !== 'owner';
}

function cell(label, ...content) {
  const td = document.createElement('td');
  td.dataset.label = label;
  td.append(...content);
  return td;
}

function row(user) {
  const tr = document.createElement('tr');
  const action = document.createElement('span');
  if (mayReset(user)) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Reset sign-in methods';
    button.setAttribute('aria-label', `Reset the sign-in methods of ${user.email}`);
    button.addEventListener('click', () => askReset(user, button));
    action.append(button);
  } else {
    action.className = 'quiet';
    action.textContent = user.id === me.user.id ? 'You' : 'Only an owner can reset an owner';
  }
  tr.append(
    cell('Person', user.name ? `${user.name} (${user.email})` : user.email),
    cell('Role', ROLES[user.role] || user.role),
    cell('Sign-in methods', methodWords(user)),
    cell('Action', action),
  );
  return tr;
}

async function show() {
  me = await loadMe();
  $('people-company').textContent = me.company.name;
  const users = await companyUsers();
  $('people-body').replaceChildren(...users.map(row));
}

register('people', {
  async enter({ status = null } = {}) {
    try {
      await show();
      if (status) showStatus(root, status);
    } catch (error) {
      if (error.code !== 'unauthenticated') showError(root, describe(error));
    }
  },
});

// ---- Resetting ---------------------------------------------------------------------------

const dialog = $('reset-dialog');
const form = $('reset-methods-form');
const password = $('reset-methods-password');
let resetting = null;
let opener = null;

function askReset(user, button) {
  resetting = user;
  opener = button;
  $('reset-dialog-title').textContent = `Reset the sign-in methods of ${user.email}?`;
  $('reset-dialog-text').textContent =
    'Their authenticator apps and passkeys are removed now. They can then log in once with their password and an ' +
    'email code, and add new ones. They get an email about it.';
  $('reset-methods-error').textContent = '';
  password.value = '';
  dialog.showModal();
  password.focus();
}

dialog.addEventListener('close', () => {
  password.value = '';
  if (opener && opener.isConnected) opener.focus();
});

$('reset-methods-cancel').addEventListener('click', () => dialog.close());

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  $('reset-methods-error').textContent = '';
  if (password.value === '') {
    $('reset-methods-error').textContent = 'Enter your password to confirm.';
    password.focus();
    return;
  }
  try {
    const user = await whileBusy(form, () => resetUserMethods(resetting.id, password.value));
    dialog.close();
    await go('people', {
      status: `The sign-in methods of ${user.email} are reset. They can log in once with an email code and add a passkey.`,
    });
  } catch (error) {
    if (error.code === 'unauthenticated') return;
    $('reset-methods-error').textContent = describe(error);
    password.value = '';
    password.focus();
  }
});
