// People sign commands with their passkey (WebAuthn): the hub prepares the command, this page
// shows it, checks that the digest is the SHA-256 of the bytes it will send back, and asks the
// authenticator for an assertion with that digest as the challenge and user verification
// required. The edge verifies the assertion itself, so the hub cannot sign in a person's name.
import { api, type CommandAssertion, type DecisionAssertion, type Enrolment, type PreparedCommand, type PreparedDecision, type Role } from './api';

export function toBase64url(bytes: ArrayBuffer | Uint8Array): string {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

/** The digest shown to the person, as hex, after checking it is SHA-256 of the command bytes. */
export async function checkedDigest(p: PreparedCommand): Promise<string> {
  const computed = new Uint8Array(await crypto.subtle.digest('SHA-256', fromBase64url(p.command)));
  if (toBase64url(computed) !== p.digest) throw new Error('the hub sent a digest that is not the SHA-256 of the command bytes');
  return hex(computed);
}

/** An assertion of one of `credentialIds` over `challenge` (both base64url), user verified. */
async function assert(challenge: string, rpId: string, credentialIds: string[]) {
  const credential = (await navigator.credentials.get({
    publicKey: {
      challenge: fromBase64url(challenge),
      rpId,
      allowCredentials: credentialIds.map((id) => ({ type: 'public-key' as const, id: fromBase64url(id) })),
      userVerification: 'required',
      timeout: 60_000,
    },
  })) as PublicKeyCredential | null;
  if (!credential) throw new Error('no passkey answered');
  const r = credential.response as AuthenticatorAssertionResponse;
  return {
    credential_id: toBase64url(credential.rawId),
    authenticator_data: toBase64url(r.authenticatorData),
    client_data_json: toBase64url(r.clientDataJSON),
    signature: toBase64url(r.signature),
  };
}

/** Asks the person's passkey to sign the prepared command (user verification required). */
export async function signPrepared(p: PreparedCommand): Promise<CommandAssertion> {
  return { command: p.command, ...(await assert(p.digest, p.rp_id, p.credential_ids)) };
}

/** What a decision's challenge covers before its bytes (gridtrust_trust::decision). */
const DECISION_CONTEXT = new TextEncoder().encode('gridtrust/v1/decision\0');

/** Checks that the challenge is SHA-256 over the decision context and the decision bytes, so the
 * passkey signs this decision and nothing else, and asks the passkey to sign it. */
export async function signDecision(p: PreparedDecision): Promise<DecisionAssertion> {
  const bytes = fromBase64url(p.decision);
  const input = new Uint8Array(DECISION_CONTEXT.length + bytes.length);
  input.set(DECISION_CONTEXT);
  input.set(bytes, DECISION_CONTEXT.length);
  const computed = new Uint8Array(await crypto.subtle.digest('SHA-256', input));
  if (toBase64url(computed) !== p.challenge) throw new Error('the hub sent a challenge that is not the digest of the decision');
  return { decision: p.decision, ...(await assert(p.challenge, p.rp_id, p.credential_ids)) };
}

/** Registers a new passkey for the logged-in person and asks the hub to enrol it for `role`. */
export async function registerPasskey(username: string, role: Role): Promise<Enrolment> {
  const credential = (await navigator.credentials.create({
    publicKey: {
      rp: { id: location.hostname, name: 'gridtrust control room' },
      user: { id: new TextEncoder().encode(username), name: username, displayName: username },
      challenge: crypto.getRandomValues(new Uint8Array(32)),
      // ES256 only: the operator CA certifies P-256 keys.
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
      authenticatorSelection: { userVerification: 'required', residentKey: 'preferred' },
      timeout: 60_000,
    },
  })) as PublicKeyCredential | null;
  if (!credential) throw new Error('no passkey was created');
  const spki = (credential.response as AuthenticatorAttestationResponse).getPublicKey();
  if (!spki) throw new Error('the authenticator created a key the browser cannot export (not ES256)');
  return api.enrol(role, toBase64url(credential.rawId), toBase64url(spki));
}
