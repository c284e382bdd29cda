// Home: who is logged in, their company, this session; the navigation for their role.

import { me as whoAmI } from './api.js';
import { describe } from './errors.js';
import { $, go, register, section, showError, showStatus, when } from './ui.js';

const root = section('home');

let me = null;

const ROLES = { owner: 'Owner', admin: 'Admin', member: 'Member' };

/// The logged-in user (GET /v1/me), and the navigation that fits their role.
export async function loadMe() {
  me = await whoAmI();
  // A session that may only add a passkey (SPEC §13) has nowhere else to go.
  $('nav').hidden = me.enrollment_only === true;
  const manager = ['owner', 'admin'].includes(me.user.role);
  $('nav-security').hidden = !manager;
  $('nav-people').hidden = !manager;
  return me;
}

export function currentMe() {
  return me;
}

function sessionWords(s) {
  const kind = s.client === 'dashboard' ? 'Dashboard' : 'Phone app';
  // The session does not say which second step it passed: an emailed code, an app's code or a passkey.
  const how = s.two_factor_verified ? 'confirmed with a second step' : 'password only';
  return `${kind}, ${how}, until ${when(s.expires_at)}`;
}

register('home', {
  async enter({ status = null } = {}) {
    $('password-error').textContent = '';
    $('password-status').textContent = '';
    try {
      await loadMe();
    } catch (error) {
      if (error.code !== 'unauthenticated') showError(root, describe(error));
      return;
    }
    if (me.enrollment_only) return go('enrol', { me });
    const name = me.user.name || me.user.email;
    $('home-title').textContent = `Welcome, ${name}`;
    $('home-user').textContent = me.user.name ? `${me.user.name} (${me.user.email})` : me.user.email;
    $('home-role').textContent = ROLES[me.user.role] || me.user.role;
    $('home-company').textContent = me.company.name;
    $('home-2fa').textContent = me.company.two_factor_enabled
      ? 'On: dashboard logins need a second step after the password'
      : 'Off: dashboard logins need only a password';
    $('home-session').textContent = sessionWords(me.session);
    document.title = `${$('home-title').textContent} · Tollgate`;
    if (status) showStatus(root, status);
  },
});
