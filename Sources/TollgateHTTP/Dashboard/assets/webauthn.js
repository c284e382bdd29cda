// Passkeys in the browser (SPEC §13, WebAuthn Level 3): the API's JSON options turned into what
// `navigator.credentials` takes, the credential it returns turned back into JSON, and what went
// wrong said in words. Every binary field crosses the API as base64url without padding.
//
// Where the browser has the Level 3 helpers (PublicKeyCredential.parseCreationOptionsFromJSON,
// parseRequestOptionsFromJSON, credential.toJSON()) they are used; elsewhere the same is done
// by hand, field by field.

/// Base64url text (padding optional) to an ArrayBuffer.
export function fromBase64url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

/// An ArrayBuffer (or view) to base64url text without padding.
export function toBase64url(buffer) {
  const bytes = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/// Whether this browser can make and use passkeys at all.
export function passkeysAvailable() {
  return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials;
}

const descriptors = (list) => (list || []).map((item) => ({ ...item, id: fromBase64url(item.id) }));

/// PublicKeyCredentialCreationOptionsJSON → PublicKeyCredentialCreationOptions.
function creationOptions(json) {
  if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: descriptors(json.excludeCredentials),
  };
}

/// PublicKeyCredentialRequestOptionsJSON → PublicKeyCredentialRequestOptions.
function requestOptions(json) {
  if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: descriptors(json.allowCredentials) };
}

/// The credential as RegistrationResponseJSON or AuthenticationResponseJSON.
function credentialJSON(credential) {
  if (typeof credential.toJSON === 'function') return credential.toJSON();
  const { response } = credential;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    response: { clientDataJSON: toBase64url(response.clientDataJSON) },
  };
  if (credential.authenticatorAttachment) json.authenticatorAttachment = credential.authenticatorAttachment;
  if (response.attestationObject) {
    json.response.attestationObject = toBase64url(response.attestationObject);
    if (typeof response.getTransports === 'function') json.response.transports = response.getTransports();
  } else {
    json.response.authenticatorData = toBase64url(response.authenticatorData);
    json.response.signature = toBase64url(response.signature);
    if (response.userHandle) json.response.userHandle = toBase64url(response.userHandle);
  }
  return json;
}

/// Thrown when the browser has no passkey support; said in words like the browser's own errors.
export class NoPasskeySupport extends Error {
  constructor() {
    super('passkeys unavailable');
    this.name = 'NoPasskeySupport';
  }
}

/// Makes a passkey from the API's creation options; answers its RegistrationResponseJSON.
export async function createPasskey(optionsJSON) {
  if (!passkeysAvailable()) throw new NoPasskeySupport();
  const credential = await navigator.credentials.create({ publicKey: creationOptions(optionsJSON) });
  return credentialJSON(credential);
}

/// Uses a passkey for the API's request options; answers its AuthenticationResponseJSON.
export async function usePasskey(optionsJSON) {
  if (!passkeysAvailable()) throw new NoPasskeySupport();
  const credential = await navigator.credentials.get({ publicKey: requestOptions(optionsJSON) });
  return credentialJSON(credential);
}

/// Whether `error` came from the browser's side of a ceremony (not from the API).
export function isCeremonyError(error) {
  return error instanceof NoPasskeySupport || (typeof DOMException !== 'undefined' && error instanceof DOMException) || error instanceof TypeError;
}

/// The browser's refusal of a ceremony in words. `making`: adding a passkey (create), else
/// logging in with one (get). The browser's own message is never shown: it is for developers.
export function ceremonyWords(error, making) {
  const name = error && error.name;
  if (error instanceof NoPasskeySupport) {
    return 'This browser cannot use passkeys. Use an up-to-date browser, or another way to log in.';
  }
  switch (name) {
    case 'NotAllowedError':
      return making
        ? 'Adding the passkey was cancelled or timed out. Press the button to try again.'
        : 'Using the passkey was cancelled or timed out, or this device has no passkey for this account. Press the button to try again.';
    case 'SecurityError':
      return 'Passkeys are not allowed on this address. Open the dashboard at its usual address (the one in your emails) and try again.';
    case 'InvalidStateError':
      return making
        ? 'This passkey is already registered: this device or security key holds one for your account. Use another one.'
        : 'This device could not use its passkey. Try again, or use another way to log in.';
    case 'AbortError':
      return 'The passkey request was stopped before it finished. Press the button to try again.';
    case 'NotSupportedError':
      return 'This device cannot make a passkey of a kind we accept. Try another device or security key.';
    case 'ConstraintError':
      return 'This device could not check it is you (fingerprint, face, PIN or screen lock). Set one up, or use another device.';
    default:
      return 'Your browser could not use the passkey. Try again; if it goes on, use another way to log in.';
  }
}
