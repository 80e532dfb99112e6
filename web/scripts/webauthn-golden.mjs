import { chromium } from 'playwright-core';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
const page = await (await browser.newContext()).newPage();
await page.goto('http://localhost:8765/');
const cdp = await page.context().newCDPSession(page);
await cdp.send('WebAuthn.enable');
await cdp.send('WebAuthn.addVirtualAuthenticator', { options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true } });
const out = await page.evaluate(async () => {
  const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
  const cred = await navigator.credentials.create({ publicKey: { rp: { id: 'localhost', name: 'gridtrust' }, user: { id: new TextEncoder().encode('operator'), name: 'operator', displayName: 'operator' }, challenge: new Uint8Array(32), pubKeyCredParams: [{ type: 'public-key', alg: -7 }], authenticatorSelection: { userVerification: 'required', residentKey: 'preferred' } } });
  const challenge = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('gridtrust golden command')));
  const a = await navigator.credentials.get({ publicKey: { challenge, rpId: 'localhost', allowCredentials: [{ type: 'public-key', id: cred.rawId }], userVerification: 'required' } });
  return { spki: hex(cred.response.getPublicKey()), credential_id: hex(cred.rawId), challenge: hex(challenge), authenticator_data: hex(a.response.authenticatorData), client_data_json: new TextDecoder().decode(a.response.clientDataJSON), signature: hex(a.response.signature) };
});
console.log(JSON.stringify(out, null, 1));
await browser.close();
