// Showing screens, messages and times. Screens are the <section>s of index.html; each screen
// module registers itself here, and `go` switches between them.

import { describe } from './errors.js';

const screens = new Map();
let current = null;

/// Registers a screen: `enter(params)` runs when it is shown, `leave()` when another is.
export function register(name, { enter = () => {}, leave = () => {}, path = '/' } = {}) {
  screens.set(name, { name, section: document.getElementById(`screen-${name}`), enter, leave, path });
}

/// Shows one screen, hides the others, clears its old messages and moves focus to its heading.
export async function go(name, params = {}) {
  const next = screens.get(name);
  if (!next) throw new Error(`no screen ${name}`);
  if (current && current !== next) current.leave();
  for (const screen of screens.values()) screen.section.hidden = screen !== next;
  document.getElementById('loading').hidden = true;
  current = next;
  // Leaving a link's page (/reset, /not-me) for the rest of the dashboard: the address bar
  // follows, so a reload does not show a used link's page again.
  if (next.path !== window.location.pathname) window.history.replaceState(null, '', next.path);
  clear(next.section);
  // The navigation says where we are.
  for (const link of document.querySelectorAll('#nav [data-go]')) {
    if (link.dataset.go === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${next.section.querySelector('h1').textContent} · Tollgate`;
  await next.enter(params);
  const heading = next.section.querySelector('h1');
  heading.focus();
}

/// The element with this id.
export const $ = (id) => document.getElementById(id);

/// A screen's <section> (usable before the screen registers).
export function section(name) {
  return document.getElementById(`screen-${name}`);
}

export function isShown(name) {
  return current !== null && current.name === name;
}

/// Clears a screen's error and status lines.
export function clear(root) {
  for (const element of root.querySelectorAll('[data-error], [data-status]')) element.textContent = '';
}

/// Shows an error (a thrown ApiError or plain words) in a screen's alert line.
export function showError(root, errorOrText) {
  const text = typeof errorOrText === 'string' ? errorOrText : describe(errorOrText);
  const status = root.querySelector('[data-status]');
  if (status) status.textContent = '';
  root.querySelector('[data-error]').textContent = text;
}

/// Shows good news or progress in a screen's status line.
export function showStatus(root, text) {
  const error = root.querySelector('[data-error]');
  if (error) error.textContent = '';
  root.querySelector('[data-status]').textContent = text;
}

/// Runs `work` with the form's (or a button's) controls disabled, so a double press sends once.
export async function whileBusy(element, work) {
  const controls = element.matches('form') ? [...element.querySelectorAll('button, input')] : [element];
  const before = controls.map((control) => control.disabled);
  for (const control of controls) control.disabled = true;
  element.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    controls.forEach((control, index) => {
      control.disabled = before[index];
    });
    element.removeAttribute('aria-busy');
  }
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const clockTime = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/// "2 Dec 2026, 14:03" in the reader's own time zone.
export function when(iso) {
  if (!iso) return '';
  return dateTime.format(new Date(iso));
}

/// "14:03" in the reader's own time zone.
export function clock(iso) {
  return clockTime.format(new Date(iso));
}

/// "9:05" for a countdown.
export function minutesSeconds(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/// What is wrong with the length of the new password typed into `input`, or null. The limits
/// are the field's own minlength and maxlength, which state the server's rule (SPEC §10); the
/// forms are novalidate, so this is where the page holds to them.
export function passwordLengthProblem(input) {
  const { minLength, maxLength } = input;
  const length = input.value.length;
  return length < minLength || length > maxLength ? `The new password must be ${minLength} to ${maxLength} characters.` : null;
}

/// A timer that calls `tick` every `ms` until stopped; screens stop theirs when left.
export function every(ms, tick) {
  const handle = window.setInterval(tick, ms);
  return () => window.clearInterval(handle);
}
