// Boot and the parts every screen shares: which screen to show first, the navigation, logout,
// and what happens when the session ends.

import { logout, session, whenSignedOut } from './api.js';
import { $, go } from './ui.js';
// Each screen module registers itself with ui.js when imported.
import './login.js';
import './code.js';
import './home.js';
import './password.js';
import './security.js';
import './methods.js';
import './passkeys.js';
import './people.js';
import './sessions.js';
import './forgot.js';
import './reset.js';
import './notme.js';

function hideNav() {
  $('nav').hidden = true;
}

whenSignedOut(() => {
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  hideNav();
  go('login', { error: 'Your session has ended. Please log in again.' });
});

for (const button of document.querySelectorAll('[data-go]')) {
  button.addEventListener('click', () => go(button.dataset.go));
}

$('logout').addEventListener('click', async () => {
  try {
    await logout();
  } catch {
    // Logged out on the server or not, this tab forgets the session.
  }
  session.clear();
  hideNav();
  go('login', { status: 'You are logged out.' });
});

/// A link's token from the fragment (`#token=…`), which is then dropped from the address bar
/// and the history at once. Fragments never reach a server, so the token is in no access log.
function takeToken() {
  const token = new URLSearchParams(window.location.hash.slice(1)).get('token');
  window.history.replaceState(null, '', window.location.pathname);
  return token;
}

function boot() {
  const path = window.location.pathname;
  if (path === '/reset') return go('reset', { token: takeToken() });
  if (path === '/not-me') return go('notme', { token: takeToken() });
  if (window.location.hash) window.history.replaceState(null, '', path);
  return session.get() ? go('home') : go('login');
}

boot();
