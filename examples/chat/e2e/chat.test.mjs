// End-to-end tests of examples/chat in a real browser (Debian's chromium
// driven by playwright-core). They build and start the Go servers
// themselves on free loopback ports:
//
//   - the embedded shape: the chat server with its token route, the embedded
//     Momento emulator and the demo identity provider, with a short token
//     TTL so that tokens are refreshed during the tests;
//   - the standalone shape: the chat server serving only the static UI and
//     the demo identity provider on one origin, cmd/tvm (with its own
//     emulator) on another, reached through CORS.
//
// Run: npm ci && npm test (in this directory), or `go test ./examples/chat`.
// Screenshots and server logs go to ../test-artifacts (E2E_ARTIFACTS).

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  artifactsDir,
  buildBinaries,
  adminClient,
  answersOK,
  buildUI,
  freePort,
  joinRoom,
  launchBrowser,
  messages,
  nonce,
  openChat,
  refreshes,
  saveLogs,
  screenshot,
  send,
  sendOK,
  startChat,
  startProcess,
  waitForMessage,
  waitLive,
  webDir,
} from './lib.mjs';

const password = 'demo-password';
// Short enough that the page refreshes its token every few seconds.
const tokenTTL = '6s';

let bins;
let browser;

before(async () => {
  await Promise.all([
    buildBinaries().then(b => {
      bins = b;
    }),
    buildUI(),
  ]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  bins?.cleanup();
});

describe('embedded shape: chat server with its own token route', () => {
  let server;
  let alice;
  let bob;
  const room = `e2e-${nonce()}`;

  before(async () => {
    server = await startChat(bins.chat, 'chat-embedded', ['-token-ttl', tokenTTL]);
    // Bob joins first, so he sees Alice join.
    bob = await openChat(browser, server.url, 'bob', password);
    await joinRoom(bob, room);
    alice = await openChat(browser, server.url, 'alice', password);
    await joinRoom(alice, room);
  });

  after(async () => {
    for (const [u, name] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ]) {
      if (u) {
        saveLogs(u, `embedded-${name}`);
        await u.context.close();
      }
    }
    await server?.stop();
  });

  it('shows a message from the read-write user at the read-only user, with the sender from the token id', async () => {
    // Bob sees Alice join; the sender is the token id Momento attached.
    await bob.page.locator('#messages li[data-kind="join"][data-sender="alice"]').waitFor();

    const text = `hello from alice ${nonce()}`;
    await sendOK(alice, text);
    await waitForMessage(bob, text);
    const got = (await messages(bob)).filter(m => m.text === text);
    assert.equal(got.length, 1);
    assert.equal(got[0].sender, 'alice', 'the sender is the token id Momento attached');
    await waitForMessage(alice, text);
  });

  it('refuses a publish by the read-only user, says so, and delivers nothing', async () => {
    const notice = await bob.page.textContent('#readonly-notice');
    assert.match(notice, /cannot send/);
    assert.equal(await bob.page.isVisible('#readonly-notice'), true);

    const text = `bob tries to talk ${nonce()}`;
    await send(bob, text);
    const err = bob.page.locator('#send-error');
    await err.waitFor({ state: 'visible' });
    assert.match(await err.textContent(), /refused to publish.*subscribe-only/);
    assert.equal(await err.getAttribute('data-denied'), 'true');

    // Topics are ordered: once a later message from Alice has arrived, an
    // accepted publish from Bob would have arrived before it.
    const marker = `marker ${nonce()}`;
    await sendOK(alice, marker);
    await waitForMessage(alice, marker);
    await waitForMessage(bob, marker);
    for (const u of [alice, bob]) {
      assert.equal((await messages(u)).filter(m => m.text === text).length, 0, `${u.username} got Bob's refused message`);
    }
  });

  it('refuses a token to a user in no chat group and says so', async () => {
    const eve = await openChat(browser, server.url, 'eve', password);
    try {
      await eve.page.fill('#room', room);
      await eve.page.click('#join-button');
      const err = eve.page.locator('#send-error');
      await err.waitFor({ state: 'visible' });
      assert.match(await err.textContent(), /Not allowed in room/);
      assert.equal(await eve.page.getAttribute('#status', 'data-state'), 'closed');
    } finally {
      saveLogs(eve, 'embedded-eve');
      await eve.context.close();
    }
  });

  it('writes a screenshot of each window', async () => {
    const files = [await screenshot(alice, 'embedded-alice'), await screenshot(bob, 'embedded-bob')];
    for (const f of files) assert.ok(readFileSync(f).length > 10_000, `${f} looks empty`);
    if (process.env.E2E_README_SCREENSHOT) await sideBySide(files, process.env.E2E_README_SCREENSHOT);
  });

  it('refreshes tokens before they expire and delivers messages sent around a refresh exactly once', async () => {
    const r0 = { alice: await refreshes(alice), bob: await refreshes(bob) };
    const sent = [];
    // Send for long enough that both pages refresh their token at least
    // twice (the TTL is 6 s: a refresh about every 4 s).
    const until = Date.now() + 10_000;
    let i = 0;
    while (Date.now() < until || (await refreshes(bob)) < r0.bob + 2 || (await refreshes(alice)) < r0.alice + 2) {
      assert.ok(Date.now() < until + 20_000, 'tokens were not refreshed in time');
      const text = `refresh ${i++} ${nonce()}`;
      await sendOK(alice, text);
      sent.push(text);
      await new Promise(r => setTimeout(r, 250));
    }
    const last = sent[sent.length - 1];
    await waitForMessage(bob, last);
    await waitForMessage(alice, last);

    for (const u of [alice, bob]) {
      const got = await messages(u);
      const texts = got.map(m => m.text);
      for (const t of sent) {
        assert.equal(texts.filter(x => x === t).length, 1, `${u.username}: "${t}" shown ${texts.filter(x => x === t).length} times`);
      }
      // In order and without gaps: the sequence numbers are consecutive.
      const seqs = got.map(m => m.seq);
      for (let k = 1; k < seqs.length; k++) assert.equal(seqs[k], seqs[k - 1] + 1, `${u.username}: sequence ${seqs.join(',')}`);
      const order = got.filter(m => sent.includes(m.text)).map(m => m.text);
      assert.deepEqual(order, sent, `${u.username}: messages out of order`);
    }
    assert.ok((await refreshes(alice)) >= r0.alice + 2 && (await refreshes(bob)) >= r0.bob + 2);
    assert.equal(await bob.page.isHidden('#problem'), true, await bob.page.textContent('#problem'));
  });
});

describe('standalone shape: static UI on one origin, cmd/tvm on another', () => {
  let ui;
  let tvm;
  let alice;
  let bob;
  let tvmURL;
  let admin; // fetch for the emulator's fault-injection admin endpoint
  const room = `standalone-${nonce()}`;

  before(async () => {
    const [uiPort, tvmPort, emulatorPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const uiURL = `http://127.0.0.1:${uiPort}`;
    tvmURL = `http://127.0.0.1:${tvmPort}`;
    const config = path.join(bins.dir, 'tvm.yaml');
    writeFileSync(
      config,
      `# cmd/tvm for the chat UI at ${uiURL}
path: /api/momento/token
ttl: 8s
auth:
  method: jwt
  jwt:
    issuer: ${uiURL}
    jwksURL: ${uiURL}/.well-known/jwks.json
    audience: [tvm-chat-demo]
    algorithms: [ES256]
    groupsClaim: cognito:groups
scopes:
  - group: ReadWriteUserGroup
    permissions:
      - {role: publishsubscribe, cache: default-cache, topic: "*"}
  - group: ReadOnlyUserGroup
    permissions:
      - {role: subscribeonly, cache: default-cache, topic: "*"}
narrowing: {}   # ?topic=<room>: each token covers only the room it was asked for
cors:
  allowedOrigins: ["${uiURL}"]
momento:
  local: true
`,
    );
    // The UI origin serves the static files, config.json and the demo
    // identity provider; it has no token route.
    const startUI = async () => {
      const proc = await startProcess(
        'chat-standalone-ui',
        bins.chat,
        [
          '-addr', `127.0.0.1:${uiPort}`, '-build=false', '-web', webDir,
          '-tvm-url', `${tvmURL}/api/momento/token`,
          '-momento-endpoint', `http://127.0.0.1:${emulatorPort}`,
        ],
        { logDir: artifactsDir, ready: () => answersOK(`${uiURL}/healthz`) },
      );
      return { url: uiURL, ...proc };
    };
    ui = await startUI();
    tvm = await startProcess(
      'tvm-standalone',
      bins.tvm,
      [],
      {
        env: { TVM_ADDR: `127.0.0.1:${tvmPort}`, TVM_CONFIG: config, MOMENTO_LOCAL_ADDR: `127.0.0.1:${emulatorPort}`, MOMENTO_API_KEY: '' },
        logDir: artifactsDir,
        ready: () => answersOK(`${tvmURL}/healthz`),
      },
    );
    admin = await adminClient(tvm, `${tvmURL}/admin/momentolocal`);
    bob = await openChat(browser, ui.url, 'bob', password);
    await joinRoom(bob, room);
    alice = await openChat(browser, ui.url, 'alice', password);
    await joinRoom(alice, room);
  });

  afterEach(async () => {
    await admin('/faults', { method: 'DELETE' });
    // Each test starts with both pages connected.
    await waitLive(alice);
    await waitLive(bob);
  });

  after(async () => {
    for (const [u, name] of [
      [alice, 'alice'],
      [bob, 'bob'],
    ]) {
      if (u) {
        saveLogs(u, `standalone-${name}`);
        await u.context.close();
      }
    }
    await tvm?.stop();
    await ui?.stop();
  });

  it('gets tokens cross-origin from cmd/tvm and delivers a message', async () => {
    const mode = await alice.page.textContent('[data-testid="mode"]');
    assert.match(mode, /standalone/);
    const text = `standalone hello ${nonce()}`;
    await sendOK(alice, text);
    await waitForMessage(bob, text);
    const got = (await messages(bob)).filter(m => m.text === text);
    assert.equal(got.length, 1);
    assert.equal(got[0].sender, 'alice');
    // cmd/tvm narrowed each token to the room asked for, with the role of
    // the user's group: what reached Momento's token service says so.
    const vended = await (await admin('/token-requests')).json();
    for (const [user, role] of [['alice', 'publishsubscribe'], ['bob', 'subscribeonly']]) {
      const mine = vended.filter(r => r.tokenId === user);
      assert.ok(mine.length > 0, `no token vended for ${user}`);
      for (const r of mine) {
        assert.deepEqual(r.permissions, [{ role, cache: 'default-cache', topic: room }]);
      }
    }
    await screenshot(alice, 'standalone-alice');
    await screenshot(bob, 'standalone-bob');
  });

  it('resumes from the last sequence number after the connection drops: messages sent meanwhile arrive once', async () => {
    const before = `before drop ${nonce()}`;
    await sendOK(alice, before);
    await waitForMessage(bob, before);
    const reconnects0 = Number(await bob.page.getAttribute('#status', 'data-reconnects'));

    // Closing every connection ends both pages' subscriptions. The next four
    // subscribes (the SDK's own stream restarts, then the pages' first
    // reconnects) are held for 2 s and then fail, so each page must
    // reconnect by itself, with a new token, from the last sequence number
    // it saw; meanwhile Alice talks.
    const rule = await admin('/faults', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ method: 'Subscribe', latency: '2s', code: 'UNAVAILABLE', count: 4 }),
    });
    assert.ok(rule.ok, await rule.text());
    const closed = await admin('/connections/close', { method: 'POST' });
    assert.equal(closed.status, 200);
    const gap = [];
    for (let i = 0; i < 3; i++) {
      gap.push(`during the drop ${i} ${nonce()}`);
      await sendOK(alice, gap[i]);
    }
    await waitForMessage(bob, gap[2], 30_000);
    assert.ok(Number(await bob.page.getAttribute('#status', 'data-reconnects')) > reconnects0, 'Bob reconnected');

    const got = await messages(bob);
    for (const t of [before, ...gap]) assert.equal(got.filter(m => m.text === t).length, 1, `"${t}"`);
    const seqs = got.map(m => m.seq);
    for (let k = 1; k < seqs.length; k++) assert.equal(seqs[k], seqs[k - 1] + 1, `sequence ${seqs.join(',')}`);
  });

  it('drops the messages both subscriptions deliver while a refresh overlaps', async () => {
    const dups0 = Number(await bob.page.getAttribute('#status', 'data-duplicates'));
    const r0 = await refreshes(bob);
    // Hold every subscribe for 1.5 s (until the rule is removed after the
    // test): during Bob's next refresh the old subscription keeps
    // delivering, and the new one then replays the same messages from the
    // resume point.
    const rule = await admin('/faults', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ method: 'Subscribe', latency: '1500ms' }),
    });
    assert.ok(rule.ok, await rule.text());
    const sent = [];
    const deadline = Date.now() + 30_000;
    while ((await refreshes(bob)) < r0 + 1 || sent.length < 3) {
      assert.ok(Date.now() < deadline, 'no refresh');
      sent.push(`overlap ${sent.length} ${nonce()}`);
      await sendOK(alice, sent[sent.length - 1]);
      await new Promise(r => setTimeout(r, 150));
    }
    await waitForMessage(bob, sent[sent.length - 1]);
    // The new subscription goes live on its first heartbeat; its replay of
    // the messages the old one already delivered follows in the next
    // frames, so wait for it to be dropped rather than read the counter at
    // once.
    await bob.page
      .waitForFunction(n => Number(document.querySelector('#status')?.dataset.duplicates) > n, dups0, { timeout: 10_000 })
      .catch(() => assert.fail('the overlap delivered no duplicates to drop within 10 s'));
    const got = await messages(bob);
    for (const t of sent) assert.equal(got.filter(m => m.text === t).length, 1, `"${t}"`);
    const seqs = got.map(m => m.seq);
    for (let k = 1; k < seqs.length; k++) assert.equal(seqs[k], seqs[k - 1] + 1, `sequence ${seqs.join(',')}`);
  });

  it('still refuses the read-only user', async () => {
    await send(bob, `bob standalone ${nonce()}`);
    await bob.page.locator('#send-error').waitFor({ state: 'visible' });
    assert.match(await bob.page.textContent('#send-error'), /subscribe-only/);
  });
});

/** Composes screenshots side by side into one PNG (for the README). */
async function sideBySide(files, out) {
  const ctx = await browser.newContext({ viewport: { width: 1820, height: 820 } });
  const page = await ctx.newPage();
  const imgs = files
    .map(f => `<img src="data:image/png;base64,${readFileSync(f).toString('base64')}" style="width:900px;border:1px solid #999;margin:4px">`)
    .join('');
  await page.setContent(`<body style="margin:0;background:#ddd;display:flex">${imgs}</body>`);
  await page.screenshot({ path: path.resolve(out) });
  await ctx.close();
}

process.on('exit', code => {
  if (code !== 0) console.error(`e2e: see ${artifactsDir} for screenshots and server logs`);
});
