// Where you're logged in (SPEC §14): the user's sessions, "this browser" marked, and remembered
// browsers; ending one session or all the others, forgetting a browser. On the Security tab,
// an owner's "End every session in the company", confirmed with the password.

import { endAllSessions, endOtherSessions, endSession, forgetRememberedBrowser, mySessions, session } from './api.js';
import { describe } from './errors.js';
import { currentMe, loadMe } from './home.js';
import { $, go, register, section, showError, showStatus, whileBusy, when } from './ui.js';

const root = section('sessions');

function plural(n, one, many) {
  return n === 1 ? `1 ${one}` : `${n} ${many}`;
}

/// A table cell with its column's name (shown before the value on narrow screens).
function cell(label, ...content) {
  const td = document.createElement('td');
  td.dataset.label = label;
  td.append(...content);
  return td;
}

function button(text, className, onPress) {
  const made = document.createElement('button');
  made.type = 'button';
  made.textContent = text;
  if (className) made.className = className;
  made.addEventListener('click', onPress);
  return made;
}

/// What ended the page's own session: the same as the "Log out" button.
function signedOut(status) {
  session.clear();
  $('nav').hidden = true;
  return go('login', { status });
}

function sessionRow(listed) {
  const row = document.createElement('tr');
  const where = document.createElement('span');
  where.textContent = `${listed.client === 'dashboard' ? 'Dashboard' : 'Phone app'}, ${listed.browser}`;
  // One element in the cell, the mark inside it: on narrow screens a cell is a grid of its
  // column's name and one value.
  const whereValue = document.createElement('span');
  whereValue.append(where);
  if (listed.current) {
    const mark = document.createElement('span');
    mark.className = 'this-browser';
    mark.textContent = 'This browser';
    whereValue.append(' ', mark);
  }
  const whereCell = cell('Where', whereValue);
  let action;
  if (listed.current) {
    action = button('Log out', null, async (event) => {
      try {
        await whileBusy(event.currentTarget, () => endSession(listed.id));
        await signedOut('You are logged out.');
      } catch (error) {
        if (error.code !== 'unauthenticated') showError(root, describe(error));
      }
    });
  } else {
    action = button('End', null, async (event) => {
      try {
        await whileBusy(event.currentTarget, () => endSession(listed.id));
        await refresh(`The session (${where.textContent}) was ended.`);
      } catch (error) {
        if (error.code === 'not_found') return refresh('That session had ended already.');
        if (error.code !== 'unauthenticated') showError(root, describe(error));
      }
    });
    action.setAttribute('aria-label', `End the session: ${where.textContent}, last used ${when(listed.last_used_at)}`);
  }
  row.append(
    whereCell,
    cell('IP address', listed.ip || ''),
    cell('Logged in', when(listed.created_at)),
    cell('Last used', when(listed.last_used_at)),
    cell('Second step', listed.two_factor_verified ? 'Code entered' : 'Password only'),
    cell('Action', action),
  );
  return row;
}

function browserRow(remembered) {
  const row = document.createElement('tr');
  const forget = button('Forget', null, async (event) => {
    try {
      await whileBusy(event.currentTarget, () => forgetRememberedBrowser(remembered.id));
      await refresh(`${remembered.browser} is forgotten: logging in there asks for a code again.`);
    } catch (error) {
      if (error.code === 'not_found') return refresh('That browser was forgotten already.');
      if (error.code !== 'unauthenticated') showError(root, describe(error));
    }
  });
  forget.setAttribute('aria-label', `Forget ${remembered.browser}, remembered ${when(remembered.created_at)}`);
  row.append(
    cell('Browser', remembered.browser),
    cell('Remembered', when(remembered.created_at)),
    cell('Last used', remembered.last_used_at ? when(remembered.last_used_at) : 'Not yet'),
    cell('Until', when(remembered.expires_at)),
    cell('Action', forget),
  );
  return row;
}

async function load() {
  const listing = await mySessions();
  $('sessions-body').replaceChildren(...listing.sessions.map(sessionRow));
  const others = listing.sessions.filter((listed) => !listed.current).length;
  $('sessions-end-others').hidden = others === 0;
  const browsers = listing.remembered_browsers;
  $('browsers-body').replaceChildren(...browsers.map(browserRow));
  $('browsers-wrap').hidden = browsers.length === 0;
  $('browsers-empty').hidden = browsers.length > 0;
}

/// Reloads the lists after a change and says what happened; focus goes to the message's
/// heading, since the pressed button is gone.
async function refresh(status) {
  try {
    await load();
    showStatus(root, status);
    $('sessions-title').focus();
  } catch (error) {
    if (error.code !== 'unauthenticated') showError(root, describe(error));
  }
}

register('sessions', {
  async enter() {
    try {
      await loadMe();
      await load();
    } catch (error) {
      if (error.code !== 'unauthenticated') showError(root, describe(error));
    }
  },
});

$('sessions-end-others').addEventListener('click', async (event) => {
  try {
    const ended = await whileBusy(event.currentTarget, () => endOtherSessions());
    await refresh(ended === 0 ? 'There was no other session.' : `${plural(ended, 'other session was', 'other sessions were')} ended.`);
  } catch (error) {
    if (error.code !== 'unauthenticated') showError(root, describe(error));
  }
});

// ---- An owner's "End every session in the company" (Security tab) ----------------------------

const dialog = $('end-all-dialog');
const form = $('end-all-form');
const password = $('end-all-password');

$('end-all-open').addEventListener('click', () => {
  const me = currentMe();
  $('end-all-company').textContent = me ? me.company.name : 'your company';
  $('end-all-error').textContent = '';
  password.value = '';
  dialog.showModal();
  password.focus();
});

dialog.addEventListener('close', () => {
  password.value = '';
  const opener = $('end-all-open');
  if (!section('security').hidden && !opener.closest('[hidden]')) opener.focus();
});

$('end-all-cancel').addEventListener('click', () => dialog.close());

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  $('end-all-error').textContent = '';
  if (password.value === '') {
    $('end-all-error').textContent = 'Enter your password to confirm.';
    password.focus();
    return;
  }
  try {
    const ended = await whileBusy(form, () => endAllSessions(password.value));
    dialog.close();
    await signedOut(
      `Every session in the company was ended (${plural(ended.sessions_ended, 'session', 'sessions')}, ` +
        `${plural(ended.browsers_forgotten, 'remembered browser', 'remembered browsers')} forgotten), yours too. Please log in again.`,
    );
  } catch (error) {
    if (error.code === 'unauthenticated') return;
    $('end-all-error').textContent = describe(error);
    password.value = '';
    password.focus();
  }
});

