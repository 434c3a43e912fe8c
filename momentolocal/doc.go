// Package momentolocal is an embedded emulator of the parts of Momento that
// token vending machines and their clients use, so that they can be tested
// without a Momento account or network:
//
//   - the token service: GenerateDisposableToken;
//   - topics: Publish and server-streaming Subscribe;
//   - the cache: Get, GetBatch, Set, SetBatch, SetIf (every SetIf* call of
//     the SDKs but the hash-based ones), Delete, KeysExist, Increment,
//     UpdateTtl (UpdateTtl, IncreaseTtl, DecreaseTtl), ItemGetTtl, Ping;
//   - the control plane: CreateCache, DeleteCache, ListCaches, FlushCache.
//
// Any other method answers UNIMPLEMENTED with a message naming it.
//
// The official SDKs talk to it unchanged, on one TCP port: native gRPC
// (HTTP/2) for the Go SDK and the Node SDK (@gomomento/sdk), and gRPC-Web
// in text format for the browser SDK (@gomomento/sdk-web), with CORS
// limited to configured origins (loopback origins by default), in
// plaintext or, with Config.TLS, over TLS.
//
// It is to Momento what net/http/httptest is to an HTTP server: Start one in
// a test, point the SDK at it, Close it at the end.
//
//	srv, err := momentolocal.Start(momentolocal.Config{})
//	if err != nil { t.Fatal(err) }
//	defer srv.Close()
//	root, _ := srv.CredentialProvider()          // root key, the emulator's endpoints
//	authClient, _ := momento.NewAuthClient(config.AuthDefault(), root)
//	// ... vend a token, then use it:
//	creds, _ := srv.CredentialProviderFor(token) // the SDK's ApiKey string
//	topicClient, _ := momento.NewTopicClient(config.TopicsDefault(), creds)
//
// # Faithful enforcement
//
// The emulator refuses what Momento refuses, with the codes and metadata
// the SDKs read. GenerateDisposableToken requires an expiry of at most 25
// hours, 1 to 20 permissions of which no two select the same resources
// (whatever their roles) and a token id of at most 64 UTF-16 code units
// (INVALID_ARGUMENT otherwise); a disposable token cannot call it
// (PERMISSION_DENIED); with Config.RequireAPIKey it requires a root key
// (UNAUTHENTICATED otherwise); Config.TokenQuota limits it to N operations
// per second for the whole emulator (RESOURCE_EXHAUSTED with
// "err: operations_rate_limit_exceeded"). Every data-plane call must carry,
// in its "authorization" metadata, an api key this emulator signed and that
// has not expired (UNAUTHENTICATED otherwise); the key's permissions must
// cover the cache, topic or every key with the right role
// (PERMISSION_DENIED otherwise); the cache must exist (NOT_FOUND
// otherwise). The rules live in Allows. Topic messages are at most 4 KB,
// cache items at most 5 MB and 24 hours, requests at most 5 MiB
// (RESOURCE_EXHAUSTED with the "err" metadata Momento sends). The control
// plane is for api keys only: disposable tokens are data-plane only.
//
// Api keys are HS256 JWTs signed with a per-emulator secret and carry their
// permissions, token id and expiry, so they are self-contained and cannot be
// forged or widened. The root key (RootAPIKey, and RootAPIKeyV2 in the
// shape of Momento's v2 api keys) has every data-plane and control-plane
// permission.
//
// # Topics
//
// Each (cache, topic) has sequence numbers starting at 1 and a sequence page
// that changes when the emulator restarts. A subscription's first message is
// a heartbeat, then heartbeats follow every Config.HeartbeatInterval.
// Items carry publisher_id, the token id of the publisher's token. A
// subscription may resume at a sequence number: the emulator replays the
// kept messages from that number on (Config.TopicHistory per topic) and
// announces a discontinuity for any it no longer has or when the page
// changed; its new_topic_sequence is the number after which items resume,
// as the SDKs read it. Every subscriber has a bounded queue
// (Config.SubscriberBuffer): a subscriber too slow to keep up loses
// messages, never the emulator's memory, and receives a discontinuity
// before the next message it gets.
//
// # Reliability tests
//
// Faults injects latency, error statuses (for the next N calls or a fraction
// of calls) and closed connections, per method; AdminHandler exposes the same
// over HTTP for a standalone emulator, behind a bearer secret (AdminSecret)
// and refusing proxied requests. Close followed by Start(srv.Config())
// restarts an emulator on the same address with the same keys, as a Momento
// outage and recovery would look to clients.
package momentolocal
