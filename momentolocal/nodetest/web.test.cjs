// Node tests of momentolocal's gRPC-Web (text format) endpoint through the
// official browser SDK, @gomomento/sdk-web, with the xhr2 XMLHttpRequest
// polyfill standing in for the browser. Run from the Go test TestWebSDK:
//   MOMENTOLOCAL_URL       http://127.0.0.1:PORT
//   MOMENTOLOCAL_ROOT_KEY  the emulator's root api key
'use strict';

require('./browser-xhr.cjs'); // before the SDK, which must find the browser globals

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  AuthClient,
  CacheClient,
  TopicClient,
  Configurations,
  TopicConfigurations,
  CredentialProvider,
  DisposableTokenScopes,
  ExpiresIn,
  AllCaches,
  AllTopics,
  GenerateDisposableToken,
  TopicPublish,
  TopicSubscribe,
  CacheGet,
  CacheSet,
  CacheIncrement,
  MomentoErrorCode,
  NoopMomentoLoggerFactory,
} = require('@gomomento/sdk-web');

const base = process.env.MOMENTOLOCAL_URL;
const rootKey = process.env.MOMENTOLOCAL_ROOT_KEY;
const cache = 'default-cache';
if (!base || !rootKey) {
  throw new Error('MOMENTOLOCAL_URL and MOMENTOLOCAL_ROOT_KEY must be set (run from go test)');
}
// A URL with a scheme is used as is; all three endpoints are required.
const endpointOverrides = { cacheEndpoint: base, controlEndpoint: base, tokenEndpoint: base };
const loggerFactory = new NoopMomentoLoggerFactory();

async function vend(scope, tokenId) {
  const auth = new AuthClient({
    credentialProvider: CredentialProvider.fromString({ apiKey: rootKey, endpointOverrides }),
  });
  const resp = await auth.generateDisposableToken(scope, ExpiresIn.minutes(10), tokenId ? { tokenId } : undefined);
  assert.ok(resp instanceof GenerateDisposableToken.Success, `vend over gRPC-Web failed: ${resp}`);
  return resp.authToken;
}

function creds(token) {
  return CredentialProvider.fromDisposableToken({ apiKey: token, endpointOverrides });
}

function topicClient(token) {
  return new TopicClient({
    configuration: TopicConfigurations.Default.latest(loggerFactory),
    credentialProvider: creds(token),
  });
}

function cacheClient(token) {
  return new CacheClient({
    configuration: Configurations.Browser.latest(loggerFactory),
    credentialProvider: creds(token),
    defaultTtlSeconds: 60,
  });
}

test('gRPC-Web: vend, subscribe, publish; publisher id is the token id', async () => {
  const alice = topicClient(await vend(DisposableTokenScopes.topicPublishSubscribe(cache, AllTopics), 'web-alice'));
  const bob = topicClient(await vend(DisposableTokenScopes.topicSubscribeOnly(AllCaches, 'web-chat'), 'web-bob'));

  const received = [];
  let notify;
  const sub = await bob.subscribe(cache, 'web-chat', {
    onItem: item => {
      received.push(item);
      if (notify) notify();
    },
    onError: err => {
      if (notify) notify(err);
    },
  });
  assert.ok(sub instanceof TopicSubscribe.Subscription, `subscribe failed: ${sub}`);
  try {
    for (const text of ['hello', 'web']) {
      const pub = await alice.publish(cache, 'web-chat', text);
      assert.ok(pub instanceof TopicPublish.Success, `publish failed: ${pub}`);
    }
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out, got ${received.length} items`)), 10000);
      notify = err => {
        if (err) {
          clearTimeout(timer);
          reject(new Error(`subscription error: ${err}`));
        } else if (received.length >= 2) {
          clearTimeout(timer);
          resolve();
        }
      };
      notify();
    });
    assert.equal(received[0].valueString(), 'hello');
    assert.equal(received[0].tokenId(), 'web-alice');
    assert.equal(received[0].sequenceNumber(), 1);
    assert.equal(received[1].valueString(), 'web');
    assert.equal(received[1].sequenceNumber(), 2);
  } finally {
    sub.unsubscribe();
  }
});

test('gRPC-Web: a subscribe-only token cannot publish', async () => {
  const c = topicClient(await vend(DisposableTokenScopes.topicSubscribeOnly(cache, AllTopics), 'web-reader'));
  const pub = await c.publish(cache, 'web-chat', 'nope');
  assert.ok(pub instanceof TopicPublish.Error, `publish should fail: ${pub}`);
  assert.equal(pub.errorCode(), MomentoErrorCode.PERMISSION_ERROR);
});

test('gRPC-Web: cache get/set/increment with a key-prefix token', async () => {
  const c = cacheClient(await vend(DisposableTokenScopes.cacheKeyPrefixReadWrite(cache, 'web/'), 'web-cache'));
  assert.ok((await c.set(cache, 'web/k', 'v')) instanceof CacheSet.Success);
  const hit = await c.get(cache, 'web/k');
  assert.ok(hit instanceof CacheGet.Hit, `get should hit: ${hit}`);
  assert.equal(hit.valueString(), 'v');
  const inc = await c.increment(cache, 'web/n', 5);
  assert.ok(inc instanceof CacheIncrement.Success, `increment failed: ${inc}`);
  assert.equal(inc.value(), 5);
  const denied = await c.get(cache, 'other');
  assert.ok(denied instanceof CacheGet.Error);
  assert.equal(denied.errorCode(), MomentoErrorCode.PERMISSION_ERROR);
});

test('gRPC-Web: a forged token is refused', async () => {
  const forged = Buffer.from(JSON.stringify({ api_key: 'eyJhbGciOiJIUzI1NiJ9.e30.forged', endpoint: '127.0.0.1' })).toString('base64');
  const c = topicClient(forged);
  const pub = await c.publish(cache, 't', 'x');
  assert.ok(pub instanceof TopicPublish.Error);
  assert.equal(pub.errorCode(), MomentoErrorCode.AUTHENTICATION_ERROR);
});
