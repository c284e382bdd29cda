// The sign-in policy on My Company → Security (SPEC §13, §14; owners change it): which second
// factors people may use (email, any, passkeys only) and how often they are asked. Choosing
// "Passkeys only" says how many people have no passkey yet, and warns an owner who has none.

import { changeSignInPolicy } from './api.js';
import { describe } from './errors.js';
import { currentMe } from './home.js';
import { $, section, showError, showStatus, whileBusy } from './ui.js';

const root = section('security');
const policyForm = $('policy-form');

const METHOD_WORDS = {
  email: 'codes by email only',
  any: 'any of their methods (a passkey, an authenticator app, or email)',
  phishing_resistant: 'passkeys only (phishing-resistant)',
};

let shown = null; // the policy as saved
let ownPasskey = true; // whether the owner looking at it has a passkey
let twoFactorOn = true;
let saved = async () => {};

function people(n) {
  return n === 1 ? '1 person has' : `${n} people have`;
}

/// The notes under "Passkeys only": shown while that choice is checked.
function passkeyNotes() {
  const chosen = policyForm.querySelector('input[name=policy-methods]:checked')?.value === 'phishing_resistant';
  const owner = currentMe() !== null && currentMe().user.role === 'owner';
  const count = shown ? shown.users_without_passkey : undefined;
  const note = $('policy-without-passkey');
  note.hidden = !chosen || typeof count !== 'number';
  if (typeof count === 'number') {
    note.textContent =
      count === 0
        ? 'Everyone with dashboard access has a passkey already.'
        : `${people(count)} no passkey yet and will be asked to add one at their next login.`;
  }
  $('policy-own-passkey').hidden = !(chosen && owner && !ownPasskey);
}

/// Shows the saved policy; `hasPasskey`: whether the viewer has a passkey of their own.
export function renderPolicy(me, policy, { twoFactorEnabled = twoFactorOn, hasPasskey = ownPasskey } = {}) {
  shown = policy;
  ownPasskey = hasPasskey;
  twoFactorOn = twoFactorEnabled;
  const owner = me.user.role === 'owner';
  const methods = METHOD_WORDS[policy.methods] || policy.methods;
  const ask =
    policy.ask === 'per_browser'
      ? `once per browser: a browser can be remembered for ${policy.remember_days === 1 ? '1 day' : `${policy.remember_days} days`}`
      : 'at every login';
  const applies = twoFactorEnabled ? '' : 'It applies once two-factor authentication is on: ';
  $('policy-state').textContent = `${applies}People use ${methods}, and are asked ${ask}.`;
  for (const input of policyForm.querySelectorAll('input[type=radio]')) {
    input.checked = input.value === policy.methods || input.value === policy.ask;
    input.disabled = !owner;
  }
  $('policy-days').value = String(policy.remember_days);
  $('policy-days').disabled = !owner;
  $('policy-owner').hidden = !owner;
  $('policy-readonly').hidden = owner;
  $('policy-password').value = '';
  passkeyNotes();
}

/// What to do after a save (the security screen reloads its event log).
export function whenPolicySaved(handler) {
  saved = handler;
}

for (const input of policyForm.querySelectorAll('input[name=policy-methods]')) {
  input.addEventListener('change', passkeyNotes);
}

policyForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const days = Number($('policy-days').value);
  if (!Number.isInteger(days) || days < 1 || days > 30) {
    showError(root, 'Choose between 1 and 30 days for a remembered browser.');
    $('policy-days').focus();
    return;
  }
  if ($('policy-password').value === '') {
    showError(root, 'Enter your password to confirm the change.');
    $('policy-password').focus();
    return;
  }
  const change = {
    methods: policyForm.querySelector('input[name=policy-methods]:checked')?.value,
    ask: policyForm.querySelector('input[name=policy-ask]:checked')?.value,
    remember_days: days,
  };
  try {
    const policy = await whileBusy(policyForm, () => changeSignInPolicy(change, $('policy-password').value));
    renderPolicy(currentMe(), policy);
    showStatus(root, 'The sign-in policy is saved. Every owner gets an email about the change; remembered browsers were forgotten.');
    await saved();
  } catch (error) {
    if (error.code === 'unauthenticated') return;
    showError(root, describe(error));
    $('policy-password').value = '';
    $('policy-password').focus();
  }
});
