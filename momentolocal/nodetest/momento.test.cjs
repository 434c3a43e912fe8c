// Node tests of momentolocal behaving as Momento does, judged by what the
// official Node SDK (@gomomento/sdk) expects. Run from the Go test
// TestNodeSDKMomentoBehaviour, which starts the emulators and a control
// server and passes them in the environment:
//   MOMENTOLOCAL_ADDR      127.0.0.1:PORT of the main emulator
//   MOMENTOLOCAL_ROOT_KEY  its root api key (v1 shape)
//   MOMENTOLOCAL_CONTROL   http://127.0.0.1:PORT of the Go test's control
//                          server (POST /restart, POST /stall-subscribe)
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  AuthClient,
  TopicClient,
  TopicConfigurations,
  AuthClientConfigurations,
  CredentialProvider,
  DisposableTokenScopes,
  ExpiresIn,
  AllTopics,
  GenerateDisposableToken,
  TopicPublish,
  TopicSubscribe,
  NoopMomentoLoggerFactory,
} = require('@gomomento/sdk');

const env = name => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} must be set (run from go test)`);
  return v;
};
const addr = env('MOMENTOLOCAL_ADDR');
const rootKey = env('MOMENTOLOCAL_ROOT_KEY');
const control = env('MOMENTOLOCAL_CONTROL');
const cache = 'default-cache';
const loggerFactory = new NoopMomentoLoggerFactory();
const overrides = a => ({ cacheEndpoint: a, controlEndpoint: a, tokenEndpoint: a, secureConnection: false });

const clients = [];
function track(c) {
  clients.push(c);
  return c;
}
test.after(() => {
  for (const c of clients) if (typeof c.close === 'function') c.close();
});

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

// waitFor polls cond until it holds or timeoutMs passes.
async function waitFor(what, cond, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function post(path) {
  const resp = await fetch(control + path, { method: 'POST' });
  assert.equal(resp.status, 204, `control ${path}: ${resp.status} ${await resp.text()}`);
}

function authClient(key, a = addr) {
  return track(
    new AuthClient({
      configuration: AuthClientConfigurations.Default.latest(loggerFactory),
      credentialProvider: CredentialProvider.fromString({ apiKey: key, endpointOverrides: overrides(a) }),
    }),
  );
}

async function vend(scope, tokenId, expiresIn = ExpiresIn.minutes(10)) {
  const resp = await authClient(rootKey).generateDisposableToken(scope, expiresIn, tokenId ? { tokenId } : undefined);
  assert.ok(resp instanceof GenerateDisposableToken.Success, `vend failed: ${resp}`);
  return resp.authToken;
}

function topicClient(token, a = addr) {
  return track(
    new TopicClient({
      configuration: TopicConfigurations.Default.latest(loggerFactory),
      credentialProvider: CredentialProvider.fromDisposableToken({ apiKey: token, endpointOverrides: overrides(a) }),
    }),
  );
}

// publishOK publishes, retrying while the connection is being re-made.
async function publishOK(client, topic, value) {
  let last;
  for (let i = 0; i < 20; i++) {
    last = await client.publish(cache, topic, value);
    if (last instanceof TopicPublish.Success) return;
    await sleep(100);
  }
  assert.fail(`publish ${value} failed: ${last}`);
}

// Both JS SDKs (src/internal/pubsub-client.ts) store a discontinuity's
// new_topic_sequence as their last seen sequence number and resume at that
// number + 1 (SubscriptionState.resumeAtTopicSequenceNumber). If the
// emulator put the next number it delivers there, a subscriber that
// reconnects right after a discontinuity would skip that message.
test('a subscriber that resumes right after a discontinuity misses no message', async () => {
  const token = await vend(DisposableTokenScopes.topicPublishSubscribe(cache, AllTopics), 'node-resume');
  const publisher = topicClient(token);
  const subscriber = topicClient(token);
  const events = [];
  const sub = await subscriber.subscribe(cache, 'resume', {
    onItem: item => events.push({ item: item.valueString(), seq: item.sequenceNumber() }),
    onDiscontinuity: d => events.push({ discontinuity: true, last: d.lastSequenceNumber(), next: d.newSequenceNumber() }),
    onError: err => events.push({ error: `${err}` }),
  });
  assert.ok(sub instanceof TopicSubscribe.Subscription, `subscribe failed: ${sub}`);
  try {
    await publishOK(publisher, 'resume', 'before');
    await waitFor('the first item', () => events.some(e => e.item === 'before'));

    // An outage: the emulator restarts with a new sequence page and no
    // history. The SDK resubscribes on its own and is told of the new page
    // by a discontinuity, with nothing to replay yet.
    await post('/restart');
    await waitFor('a discontinuity after the restart', () => events.some(e => e.discontinuity));
    const disc = events.find(e => e.discontinuity);
    assert.equal(disc.last, 1);

    // The connection drops again; the SDK's resubscription is held back
    // while a message is published, so it must be replayed.
    await post('/stall-subscribe');
    await publishOK(publisher, 'resume', 'during');
    // If "during" was skipped, publish another message so that the test
    // shows what arrived instead.
    const nudge = setTimeout(() => publishOK(publisher, 'resume', 'after').catch(() => {}), 4000);
    try {
      await waitFor('an item after the discontinuity', () => events.slice(events.indexOf(disc) + 1).some(e => e.item));
    } finally {
      clearTimeout(nudge);
    }
    const next = events.slice(events.indexOf(disc) + 1).find(e => e.item);
    assert.deepEqual(next, { item: 'during', seq: 1 }, `events: ${JSON.stringify(events)}`);
    assert.ok(!events.some(e => e.error), `events: ${JSON.stringify(events)}`);
  } finally {
    sub.unsubscribe();
  }
});
