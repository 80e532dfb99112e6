// Browser tests of the control room in real Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; no browser is ever downloaded), against a running `gridtrust demo`.
//
//   GRIDTRUST_URL        the hub's UI (default http://127.0.0.1:8080)
//   GRIDTRUST_ARTIFACTS  where screenshots go (default /tmp/gridtrust-artifacts)
//   CHROMIUM             the browser binary (default /usr/bin/chromium)
//
// Run: node --test --test-concurrency=1 tests/   (see .ci/checks/50-web-ui.sh, which starts the demo)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.GRIDTRUST_URL ?? 'http://127.0.0.1:8080';
// Passkeys need a secure context and a domain as relying party id: the demo's is `localhost`
// (an IP address cannot be one), on the same port.
const PASSKEY_BASE = BASE.replace('//127.0.0.1', '//localhost');
// Who enrols a passkey and operates with it: a person with no passkey yet in this demo (a second
// run against the same demo, e.g. through the cc's UI, names another one).
const PASSKEY_PERSON = process.env.GRIDTRUST_PASSKEY_PERSON ?? 'operator';
const ARTIFACTS = process.env.GRIDTRUST_ARTIFACTS ?? '/tmp/gridtrust-artifacts';
const USERS = {
  viewer: ['viewer', 'viewer-demo'],
  operator: ['operator', 'operator-demo'],
  engineer: ['engineer', 'engineer-demo'],
  secadm: ['secadm', 'secadm-demo'],
};

mkdirSync(ARTIFACTS, { recursive: true });
let browser;
const contexts = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // No background connections (the machine has no network). Playwright itself starts the
    // browser on a fresh, empty --user-data-dir in a temporary folder and removes it at close.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
});

/** A fresh browser context (own cookies) with the CSP violations and page errors it sees. */
async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) page.problems.push(m.text());
  });
  page.on('pageerror', (e) => page.problems.push(String(e)));
  return page;
}

async function shot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  console.log(`screenshot: ${path}`);
  return path;
}

async function login(page, who, base = BASE) {
  const [user, password] = USERS[who];
  await page.goto(base);
  await page.getByTestId('login').waitFor();
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
  await page.getByTestId('station-tree').waitFor();
  await page.getByTestId('user').filter({ hasText: user }).waitFor();
}

/** The id of the first value row in view whose point satisfies `pick` (by its API metadata). */
async function findPoint(page, pick, base = BASE) {
  const points = await (await page.request.get(`${base}/api/points`)).json();
  const values = await (await page.request.get(`${base}/api/values`)).json();
  const latest = new Map(values.map((v) => [v.point, v]));
  const found = points.find((p) => pick(p, latest.get(p.id)));
  assert.ok(found, 'the demo has a point of the kind the test needs');
  return found;
}

/** Selects the bay a point is in and returns its row. */
async function rowOf(page, point) {
  await page.locator(`[data-testid=bay][data-bay="${point.bay}"]`).click();
  const row = page.locator(`[data-testid=value-row][data-point="${point.id}"]`);
  await row.waitFor();
  return row;
}

describe('control room', () => {
  test('a wrong password is refused, the right one opens the control room', async () => {
    const page = await newPage();
    await page.goto(BASE);
    await page.fill('input[name=username]', 'operator');
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    await page.locator('.login .error').waitFor();
    await login(page, 'operator');
    assert.match(await page.getByTestId('user').innerText(), /operator \(OPERATOR\)/);
    assert.ok((await page.getByTestId('bay').count()) > 0, 'the station tree lists bays');
    await page.getByTestId('stream-state').filter({ hasText: 'live' }).waitFor();
    assert.deepEqual(page.problems, []);
  });

  test('values change live without reloading, with quality and trust badges', async () => {
    const page = await newPage();
    await login(page, 'viewer');
    const analog = await findPoint(page, (p, v) => p.bay && v && typeof v.value === 'number' && p.kind === 'analog');
    const row = await rowOf(page, analog);
    const cell = row.getByTestId('value');
    await cell.and(page.locator('[data-seq]')).waitFor();
    const firstSeq = Number(await cell.getAttribute('data-seq'));
    // The same row shows a newer record after a while: pushed by the event stream.
    await page.waitForFunction(
      ([id, seq]) => Number(document.querySelector(`[data-testid=value-row][data-point="${id}"] [data-testid=value]`)?.getAttribute('data-seq')) > seq,
      [analog.id, firstSeq],
      { timeout: 20_000 },
    );
    assert.equal(await row.getByTestId('trust-badge').getAttribute('data-trust'), 'verified');
    assert.match(await row.getByTestId('trust-badge').innerText(), /verified in the field/);
    assert.ok(await row.getByTestId('quality-badge').isVisible());
    await page.getByTestId('trend').locator('canvas').waitFor();
    await shot(page, 'live-values');
    assert.deepEqual(page.problems, []);
  });

  test('a trust failure shows as a failed badge with its reason and an alarm, which the operator acknowledges', async () => {
    const page = await newPage();
    await login(page, 'operator');
    await page.getByTestId('all-bays').click();
    await page.getByTestId('value-row').first().waitFor();
    const before = await (await page.request.get(`${BASE}/api/alarms?state=all`)).json();
    const lastId = Math.max(0, ...before.map((a) => a.id));
    // The failed state lasts until the point's next good batch, so record it when it appears.
    await page.evaluate(() => {
      window.__failedBadges = [];
      new MutationObserver(() => {
        for (const b of document.querySelectorAll('[data-testid=trust-badge][data-trust=failed]')) {
          const text = b.textContent ?? '';
          // Bring the first one into view at once, for the screenshot.
          if (window.__failedBadges.length === 0) b.scrollIntoView({ block: 'center' });
          if (!window.__failedBadges.includes(text)) window.__failedBadges.push(text);
        }
      }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    const res = await page.request.post(`${BASE}/api/demo/tamper`, { headers: { 'X-Gridtrust-CSRF': '1' } });
    assert.equal(res.status(), 200, `tamper switch: ${await res.text()}`);
    await page.waitForFunction(() => window.__failedBadges.length > 0, null, { timeout: 20_000 });
    await shot(page, 'trust-failure');
    const badges = await page.evaluate(() => window.__failedBadges);
    assert.match(badges[0], /^failed: .{5,}/, 'the failed badge names the reason');

    const alarm = page.locator('[data-testid=alarm][data-kind=trust]').filter({ has: page.getByTestId('ack-button') });
    await alarm.first().waitFor({ timeout: 20_000 });
    const alarmId = Number(await alarm.first().getAttribute('data-alarm-id'));
    assert.ok(alarmId > lastId, 'a new trust alarm was raised');
    const item = page.locator(`[data-testid=alarm][data-alarm-id="${alarmId}"]`);
    await item.getByTestId('ack-button').click();
    await item.getByTestId('acked').filter({ hasText: 'acknowledged by operator' }).waitFor();
    // Once good values restored the points, the rows still say that they failed, and why.
    await page.getByTestId('recent-failure').first().waitFor({ timeout: 20_000 });
    assert.match(await page.getByTestId('recent-failure').first().innerText(), /^failed at \d\d:\d\d:\d\d: .{5,}/);
    await shot(page, 'alarm-acknowledged');
    const stored = (await (await page.request.get(`${BASE}/api/alarms?state=all`)).json()).find((a) => a.id === alarmId);
    assert.equal(stored.acknowledged?.by, 'operator', 'the hub recorded the acknowledgement');
    assert.deepEqual(page.problems, []);
  });

  test('after a trust failure the incident view shows the incident with its timeline and ranked recommendations, and the operator acknowledges it', async () => {
    const page = await newPage();
    await login(page, PASSKEY_PERSON === 'operator' ? 'operator' : 'engineer');
    const before = await (await page.request.get(`${BASE}/api/alarms?state=all`)).json();
    const lastId = Math.max(0, ...before.map((a) => a.id));
    const res = await page.request.post(`${BASE}/api/demo/tamper`, { headers: { 'X-Gridtrust-CSRF': '1' } });
    assert.equal(res.status(), 200, `tamper switch: ${await res.text()}`);
    await page.getByTestId('incidents-button').click();
    // The incident that holds the new trust alarm (it may have joined an earlier one of the same edge).
    let incident;
    for (let i = 0; i < 100 && !incident; i++) {
      const list = await (await page.request.get(`${BASE}/api/incidents`)).json();
      incident = list.find((x) => x.alarms.some((a) => a.id > lastId && a.kind === 'trust'));
      if (!incident) await page.waitForTimeout(200);
    }
    assert.ok(incident, 'an incident holds the new trust alarm');
    await page.locator(`[data-testid=incident][data-incident-id="${incident.id}"]`).click();
    const detail = page.locator(`[data-testid=incident-detail][data-incident-id="${incident.id}"]`);
    await detail.waitFor({ timeout: 20_000 });
    await detail.locator('[data-testid=incident-alarm][data-kind=trust]').first().waitFor();
    const recommendations = detail.getByTestId('recommendation');
    assert.ok((await recommendations.count()) > 0, 'ranked recommendations');
    assert.equal(await recommendations.first().getAttribute('data-action'), incident.recommendations[0].action, 'the first is shown first');
    for (const part of ['.rec-reason', '.rec-effect']) {
      assert.ok((await recommendations.first().locator(part).innerText()).length > 30, `${part} says something`);
    }
    await shot(page, 'incident');
    await detail.getByTestId('incident-ack-button').click();
    await detail.getByTestId('incident-acked').filter({ hasText: 'acknowledged by' }).waitFor();
    const stored = (await (await page.request.get(`${BASE}/api/incidents`)).json()).find((x) => x.id === incident.id);
    assert.ok(stored.acknowledged, 'the hub recorded the acknowledgement');
    // No passkey yet: the hub vouched for the logged-in person itself, and says so; in the log.
    const decision = detail.locator('[data-testid=incident-decision][data-step=acknowledge]').last();
    await decision.waitFor();
    assert.equal(await decision.getAttribute('data-proof'), 'hub');
    assert.match(await decision.innerText(), /log entry \d+/);
    assert.deepEqual(page.problems, []);
  });

  test('an operator enrols a passkey, a SECADM approves it, and the operator operates a breaker with it: select, confirm, execute, and the device answers', async () => {
    const page = await newPage();
    // Chromium's virtual authenticator (CDP WebAuthn): a platform passkey that verifies the user.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await login(page, PASSKEY_PERSON, PASSKEY_BASE);
    await page.getByTestId('passkeys-button').click();
    const passkeys = page.getByTestId('passkey-dialog');
    await passkeys.getByTestId('register-passkey').click();
    await passkeys.locator('[data-testid=my-enrolment][data-state=pending]').waitFor();
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, 'the authenticator holds the new passkey');
    await shot(page, 'passkey-pending');
    await passkeys.getByRole('button', { name: 'Close', exact: true }).click();

    // Before approval the hub has nothing to bind the key to the person: no command.
    const early = await page.request.post(`${PASSKEY_BASE}/api/commands/prepare`, {
      headers: { 'X-Gridtrust-CSRF': '1' },
      data: { point: 'F1/XCBR1.Pos', action: 'select', value: { kind: 'double', value: 'open' } },
    });
    assert.equal(early.status(), 409);

    // The SECADM approves (the demo's development CA certifies the key at approval).
    const admin = await newPage();
    await login(admin, 'secadm', PASSKEY_BASE);
    await admin.getByTestId('passkeys-button').click();
    const pending = admin.locator(`[data-testid=pending-enrolment][data-name=${PASSKEY_PERSON}]`);
    await pending.getByTestId('approve-enrolment').click();
    await pending.waitFor({ state: 'detached' });
    await shot(admin, 'passkey-approved-by-secadm');

    const breaker = await findPoint(page, (p, v) => p.operable && p.command_kind === 'double' && p.bay && v, PASSKEY_BASE);
    // What the one-line diagram energises before the command (when the hub serves a model).
    const diagramOf = async () => {
      const res = await page.request.get(`${PASSKEY_BASE}/api/model/diagram`);
      return res.status() === 200 ? await res.json() : null;
    };
    const energisedIds = (d) => new Set(d.equipment.filter((e) => e.energised).map((e) => e.id));
    const diagramBefore = await diagramOf();
    const row = await rowOf(page, breaker);
    const valueBefore = await row.getByTestId('value').innerText();
    const target = /open|off/i.test(valueBefore) ? 'Close' : 'Open';
    await row.getByTestId('operate-button').click();
    const dialog = page.getByTestId('command-dialog');
    await dialog.getByLabel(target, { exact: true }).check();
    await dialog.getByTestId('select-button').click();
    await dialog.locator('[data-testid=command-state]').filter({ hasText: 'confirmed' }).waitFor({ timeout: 20_000 });
    // Execute: the dialog shows what the passkey signs (and keeps showing what it signed).
    await dialog.getByTestId('execute-button').click();
    const summary = dialog.locator('[data-testid=sign-summary][data-action=execute]');
    await summary.waitFor();
    assert.equal(await summary.getByTestId('sign-point').innerText(), breaker.id);
    assert.equal(await summary.getByTestId('sign-action').innerText(), 'execute');
    assert.equal(await summary.getByTestId('sign-target').innerText(), 'edge-1');
    assert.match(await summary.getByTestId('sign-digest').innerText(), /^[0-9a-f]{64}$/);
    await shot(page, 'command-signing');
    // The answer line names the command's action; the log below it says "execute sent" before
    // the first answer arrives, so only the answer line tells that the state is the execute's.
    await page.waitForFunction(
      () => ['terminated', 'confirmed', 'refused', 'timeout'].includes(document.querySelector('[data-testid=command-answer]')?.getAttribute('data-state') ?? '') &&
        /\(execute\)/.test(document.querySelector('[data-testid=command-state]')?.parentElement?.textContent ?? ''),
      null,
      { timeout: 30_000 },
    );
    await shot(page, 'command-operator');
    const state = await dialog.getByTestId('command-answer').getAttribute('data-state');
    assert.ok(['terminated', 'confirmed'].includes(state), `the device accepted the command (state ${state}: ${await dialog.innerText()})`);
    await dialog.getByRole('button', { name: 'Close', exact: true }).last().click();
    // The breaker reports its new position through the whole chain.
    await page.waitForFunction(
      ([id, before]) => {
        const text = document.querySelector(`[data-testid=value-row][data-point="${id}"] [data-testid=value]`)?.textContent ?? '';
        return text.trim() !== before.trim();
      },
      [breaker.id, valueBefore],
      { timeout: 30_000 },
    );
    // On the one-line diagram the breaker is drawn in its new position, and the part behind it
    // changes colour: de-energised after opening, energised again after closing.
    if (diagramBefore) {
      const drawnBreaker = diagramBefore.equipment.find((e) => e.switch?.command_point === breaker.id);
      assert.ok(drawnBreaker, `the diagram draws the breaker ${breaker.id}`);
      const newState = target === 'Open' ? 'open' : 'closed';
      let diagramAfter = await diagramOf();
      for (let i = 0; i < 50 && diagramAfter.equipment.find((e) => e.id === drawnBreaker.id).switch.state !== newState; i++) {
        await page.waitForTimeout(200);
        diagramAfter = await diagramOf();
      }
      assert.equal(diagramAfter.equipment.find((e) => e.id === drawnBreaker.id).switch.state, newState, 'the hub draws the live position');
      const [before, after] = [energisedIds(diagramBefore), energisedIds(diagramAfter)];
      const changed = target === 'Open' ? [...before].filter((id) => !after.has(id)) : [...after].filter((id) => !before.has(id));
      const busbars = new Set(diagramAfter.equipment.filter((e) => e.kind === 'BusbarSection').map((e) => e.id));
      assert.ok(changed.length > 0, `${target.toLowerCase()}ing ${drawnBreaker.name} changes what is energised behind it`);
      assert.ok(changed.every((id) => !busbars.has(id)), 'the busbar stays energised');
      await page.getByTestId('oneline-button').click();
      const view = page.getByTestId('oneline-view');
      await view.locator(`[data-testid=oneline-equipment][data-id="${drawnBreaker.id}"][data-state=${newState}]`).waitFor({ timeout: 10_000 });
      for (const id of changed) {
        const drawn = view.locator(`[data-testid=oneline-equipment][data-id="${id}"]`);
        if ((await drawn.count()) > 0) assert.equal(await drawn.getAttribute('data-energised'), String(target !== 'Open'), `${id} after ${target.toLowerCase()}`);
      }
      await shot(page, target === 'Open' ? 'one-line-breaker-opened' : 'one-line-breaker-closed');
    }

    // The same person carries out an incident's first recommendation: the decision is signed
    // with the passkey (the virtual authenticator answers the hub's challenge) and logged.
    const incidents = await (await page.request.get(`${PASSKEY_BASE}/api/incidents`)).json();
    const withAction = incidents.find((i) => i.recommendations.length > 0);
    assert.ok(withAction, 'an incident recommends an action (the trust failure of the earlier test)');
    await page.getByTestId('incidents-button').click();
    await page.locator(`[data-testid=incident][data-incident-id="${withAction.id}"]`).click();
    const detail = page.locator(`[data-testid=incident-detail][data-incident-id="${withAction.id}"]`);
    await detail.getByTestId('carry-out').first().click();
    // (A second run against the same demo finds the first run's decision there too: this one is by
    // this run's person.)
    const carried = detail
      .locator(`[data-testid=incident-decision][data-step=execute][data-action="${withAction.recommendations[0].action}"]`)
      .filter({ hasText: `by ${PASSKEY_PERSON} (` });
    await carried.waitFor({ timeout: 20_000 });
    assert.equal(await carried.getAttribute('data-proof'), 'passkey', 'signed with the person\'s own passkey');
    await shot(page, 'incident-action-signed');
    assert.deepEqual(page.problems, []);
  });

  test('a viewer is refused by the hub when trying to operate', async () => {
    const page = await newPage();
    await login(page, 'viewer');
    const breaker = await findPoint(page, (p, v) => p.operable && p.command_kind === 'double' && p.bay && v);
    const row = await rowOf(page, breaker);
    await row.getByTestId('operate-button').click();
    const dialog = page.getByTestId('command-dialog');
    await dialog.getByText('may not operate').waitFor();
    await dialog.getByTestId('select-button').click();
    const error = dialog.getByTestId('command-error');
    await error.waitFor({ timeout: 10_000 });
    assert.match(await error.innerText(), /^403 forbidden/);
    await shot(page, 'command-viewer-refused');
  });

  test('the evidence of a value passes the in-browser check, and a tampered proof fails it', async () => {
    const page = await newPage();
    await login(page, 'viewer');
    const analog = await findPoint(page, (p, v) => p.bay && v && v.trust.status === 'verified' && typeof v.value === 'number');
    const row = await rowOf(page, analog);
    await row.getByTestId('evidence-button').click();
    const view = page.getByTestId('evidence-view');
    await view.locator('[data-testid=browser-verdict]').waitFor({ timeout: 20_000 });
    // The hub signs a checkpoint on demand for a logged batch, so the evidence is complete at once.
    // Only a value stored in the milliseconds before its batch's log append can come back without
    // a log proof: a second look, shortly after, must then be complete.
    for (let i = 0; i < 2 && (await view.getByTestId('browser-verdict').getAttribute('data-verdict')) === 'incomplete'; i++) {
      await view.getByTestId('evidence-close').click();
      await page.waitForTimeout(200);
      await row.getByTestId('evidence-button').click();
      await view.locator('[data-testid=browser-verdict]').waitFor();
    }
    assert.equal(await view.getByTestId('browser-verdict').getAttribute('data-verdict'), 'verified', await view.innerText());
    const steps = view.getByTestId('evidence-step');
    assert.equal(await steps.count(), 9);
    assert.equal(await view.locator('[data-testid=evidence-step][data-status=pass]').count(), 9);
    await shot(page, 'evidence-verified');
    await view.getByTestId('evidence-close').click();

    // The same evidence with its inclusion proof altered on the way to the browser (a lying hub
    // or proxy): one path hash flipped, or, for a batch of one record (empty path), one byte of
    // the record. The hub's verdict still says verified; the browser's check must not.
    let altered = null;
    await page.route('**/api/evidence?*', async (route) => {
      const response = await route.fetch();
      const doc = await response.json();
      const flip = (hex, at) => hex.slice(0, at) + (parseInt(hex[at], 16) ^ 1).toString(16) + hex.slice(at + 1);
      if (doc.record_proof.path_hex.length > 0) {
        doc.record_proof.path_hex[0] = flip(doc.record_proof.path_hex[0], 0);
        altered = 'proof path element 0';
      } else {
        doc.record.canonical_hex = flip(doc.record.canonical_hex, doc.record.canonical_hex.length - 1);
        altered = 'record byte (empty path)';
      }
      await route.fulfill({ response, json: doc });
    });
    await row.getByTestId('evidence-button').click();
    await view.locator('[data-testid=browser-verdict]').waitFor({ timeout: 20_000 });
    assert.equal(await view.getByTestId('browser-verdict').getAttribute('data-verdict'), 'failed');
    assert.equal(await view.locator('[data-step=record-inclusion]').getAttribute('data-status'), 'fail');
    assert.ok(altered, 'the evidence was altered in transit');
    assert.match(await view.locator('[data-step=record-inclusion] .detail').innerText(), /leads to root/);
    assert.match(await view.locator('.hub-verdict').innerText(), /verified/, 'the hub still claims verified');
    await shot(page, 'evidence-tampered');
    assert.deepEqual(page.problems, []);
  });

  test('the one-line diagram draws the busbars and switches of the served model, with their state, energised or not, and values with units', async (t) => {
    const page = await newPage();
    await login(page, 'viewer');
    const res = await page.request.get(`${BASE}/api/model/diagram`);
    if (res.status() === 404) {
      t.skip(`this demo's hub serves no imported grid model, so there is no one-line diagram to check (${(await res.json()).message})`);
      return;
    }
    assert.equal(res.status(), 200, await res.text());
    const diagram = await res.json();
    if (diagram.nodes.length === 0) {
      t.skip('the served model has no CIM topology (an SCL-only model): the one-line diagram is empty');
      return;
    }
    const points = new Map((await (await page.request.get(`${BASE}/api/points`)).json()).map((p) => [p.id, p]));
    await page.getByTestId('oneline-button').click();
    const view = page.getByTestId('oneline-view');
    await view.waitFor();
    assert.equal(await view.getAttribute('data-layout'), diagram.layout);
    // Every drawn switch, with its open/closed state and energised flag as the hub computed them.
    const switches = diagram.equipment.filter((e) => e.switch && e.points.length > 0);
    const busbars = diagram.nodes.filter((n) => n.busbar && n.points.length > 1);
    assert.ok(switches.length + busbars.length > 0, 'the model has switches or busbars to draw');
    assert.equal(await view.locator('[data-testid=oneline-equipment][data-state]').count(), switches.length);
    assert.equal(await view.getByTestId('oneline-busbar').count(), busbars.length);
    for (const s of switches) {
      const drawn = view.locator(`[data-testid=oneline-equipment][data-id="${s.id}"]`);
      assert.equal(await drawn.getAttribute('data-state'), s.switch.state, `${s.name} drawn ${s.switch.state}`);
      assert.equal(await drawn.getAttribute('data-energised'), String(s.energised));
    }
    for (const b of busbars) {
      assert.equal(await view.locator(`[data-testid=oneline-busbar][data-id="${b.id}"]`).getAttribute('data-energised'), String(b.energised));
    }
    // Values on the diagram carry their unit when the model gives one.
    for (const v of await view.getByTestId('oneline-value').all()) {
      const unit = points.get(await v.getAttribute('data-point'))?.unit;
      if (unit) assert.ok((await v.textContent()).includes(` ${unit}`), `${await v.textContent()} shows its unit ${unit}`);
    }
    // Selecting a switch shows its state; "Open bay" goes to its bay's table.
    const first = switches.find((s) => s.bay) ?? switches[0];
    if (first) {
      await view.locator(`[data-testid=oneline-equipment][data-id="${first.id}"]`).dispatchEvent('click');
      const selection = page.getByTestId('oneline-selection');
      await selection.waitFor();
      assert.match(await selection.getByTestId('oneline-switch-state').innerText(), new RegExp(first.switch.state));
      await shot(page, 'one-line');
      if (first.bay) {
        await selection.getByTestId('oneline-open-bay').click();
        await page.getByTestId('bay-view').waitFor();
      }
    } else {
      await shot(page, 'one-line');
    }
    assert.deepEqual(page.problems, []);
  });

  test('the estimation view shows the bad-data test, the measurements worst residual first with units, and the security index per bus', async () => {
    const page = await newPage();
    await login(page, 'viewer');
    // The demo runs the checks every few seconds; the first may not have run yet.
    let res;
    for (let i = 0; i < 60; i++) {
      res = await page.request.get(`${BASE}/api/estimation`);
      if (res.status() !== 404) break;
      await page.waitForTimeout(500);
    }
    assert.equal(res.status(), 200, `the demo runs [estimation]: ${await res.text()}`);
    const report = await res.json();
    assert.equal(report.error, null, 'the demo grid is observable');
    const points = new Map((await (await page.request.get(`${BASE}/api/points`)).json()).map((p) => [p.id, p]));
    await page.getByTestId('estimation-button').click();
    const view = page.getByTestId('estimation');
    const summary = view.getByTestId('estimation-summary');
    await summary.waitFor();
    assert.equal(await summary.getAttribute('data-passed'), String(report.passed), 'the verdict the hub reported');
    const verdict = await summary.getByTestId('estimation-verdict').innerText();
    assert.match(verdict, new RegExp(`${report.passed ? 'passed' : 'failed'}: J\\(x\\) = [0-9.]+ against χ² threshold [0-9.]+`));
    // Every measurement has a row; the measured ones show their unit, the rows run worst residual first.
    const rows = view.getByTestId('estimation-measurement');
    assert.equal(await rows.count(), report.measurements.length);
    const measured = view.locator('[data-testid=estimation-measurement][data-origin=measured]');
    assert.ok((await measured.count()) > 0, 'measured values in the table');
    const first = measured.first();
    const unit = points.get(await first.getAttribute('data-point'))?.unit;
    assert.ok(unit, 'the demo\'s measured points have units');
    const shown = await first.getByTestId('measured').innerText();
    assert.ok(shown.includes(' pu') && shown.includes(` ${unit}`), `${shown} shows per unit and ${unit}`);
    assert.match(await first.getByTestId('residual').innerText(), /^[0-9]+\.[0-9]{2}$|^critical$/);
    const residuals = (await view.getByTestId('residual').allInnerTexts()).map((r) => (r === 'critical' ? -1 : Number(r)));
    assert.ok(residuals.some((r) => r >= 0), 'some residual is a number');
    const bad = await view.locator('[data-testid=estimation-measurement][data-bad-data=true]').count();
    assert.deepEqual(residuals.slice(bad), [...residuals.slice(bad)].sort((a, b) => b - a), 'worst residual first after the bad data');
    // Per bus: its name and the security index the hub computed.
    const buses = view.getByTestId('estimation-bus');
    assert.equal(await buses.count(), report.buses.length);
    for (const b of report.buses) {
      const row = view.locator(`[data-testid=estimation-bus][data-bus="${b.bus}"]`);
      if (b.name) assert.ok((await row.innerText()).includes(b.name), `bus ${b.name} named`);
      const index = await row.getByTestId('magnitude-attack').innerText();
      if (b.magnitude_attack.kind === 'exact') assert.equal(index, String(b.magnitude_attack.measurements));
    }
    await shot(page, 'estimation');
    assert.deepEqual(page.problems, []);
  });

  test('the API reference renders the OpenAPI document from the hub, with no CDN', async () => {
    const page = await newPage();
    const foreign = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(BASE) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    await page.goto(`${BASE}/api/docs`);
    await page.locator('.swagger-ui .info .title').waitFor({ timeout: 20_000 });
    await page.locator('.opblock-summary-path', { hasText: '/api/evidence' }).first().waitFor();
    await shot(page, 'api-docs');
    assert.deepEqual(foreign, [], 'everything came from the hub');
    assert.deepEqual(page.problems, []);
  });
});
