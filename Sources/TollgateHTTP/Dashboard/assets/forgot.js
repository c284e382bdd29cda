// Forgot password (SPEC §10): asks for a reset link. The answer is the same whether or not the
// address has an account, and so are the words shown.

import { forgotPassword } from './api.js';
import { describe } from './errors.js';
import { register, section, showError, showStatus, whileBusy } from './ui.js';

const root = section('forgot');
const form = document.getElementById('forgot-form');
const email = document.getElementById('forgot-email');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (email.value.trim() === '') {
    showError(root, 'Enter your email address.');
    email.focus();
    return;
  }
  try {
    await whileBusy(form, () => forgotPassword(email.value.trim()));
    showStatus(
      root,
      'If there is an account for that address, we have emailed it a link to choose a new password. ' +
        'The link works for 30 minutes. Look in your spam folder too.',
    );
  } catch (error) {
    showError(root, describe(error));
  }
});

register('forgot', {
  enter({ email: address = '' } = {}) {
    email.value = address;
  },
});
