// Package momentolocal is an embedded emulator of the parts of Momento that
// token vending machines and their clients use, so that they can be tested
// without a Momento account or network:
//
//   - the token service: GenerateDisposableToken;
//   - topics: Publish and server-streaming Subscribe;
//   - a cache: Get, Set, Delete and Increment, with TTLs.
//
// The official SDKs talk to it unchanged, on one TCP port: native gRPC
// (HTTP/2 cleartext) for the Go SDK and the Node SDK (@gomomento/sdk), and
// gRPC-Web in text format for the browser SDK (@gomomento/sdk-web), with CORS
// limited to configured origins (loopback origins by default).
//
// It is to Momento what net/http/httptest is to an HTTP server: Start one in
// a test, point the SDK at it, Close it at the end.
//
//	srv, err := momentolocal.Start(momentolocal.Config{})
//	if err != nil { t.Fatal(err) }
//	defer srv.Close()
//	root, _ := srv.CredentialProvider()          // root key, plaintext endpoints
//	authClient, _ := momento.NewAuthClient(config.AuthDefault(), root)
//	// ... vend a token, then use it:
//	creds, _ := srv.CredentialProviderFor(token) // the SDK's ApiKey string
//	topicClient, _ := momento.NewTopicClient(config.TopicsDefault(), creds)
//
// # Faithful enforcement
//
// The emulator refuses what Momento refuses. GenerateDisposableToken requires
// an expiry of at most one hour, at least one well-formed permission and a
// token id of at most 64 bytes (INVALID_ARGUMENT otherwise); with
// Config.RequireAPIKey it also requires the root key (UNAUTHENTICATED
// otherwise). Every data-plane call must carry, in its "authorization"
// metadata, an api key this emulator signed and that has not expired
// (UNAUTHENTICATED otherwise); the key's permissions must cover the cache,
// topic or key with the right role (PERMISSION_DENIED otherwise); the cache
// must exist (NOT_FOUND otherwise). The rules live in Allows.
//
// Api keys are HS256 JWTs signed with a per-emulator secret and carry their
// permissions, token id and expiry, so they are self-contained and cannot be
// forged or widened. The root key (RootAPIKey) has every data-plane
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
// changed. Every subscriber has a bounded queue (Config.SubscriberBuffer):
// a subscriber too slow to keep up loses messages, never the emulator's
// memory, and receives a discontinuity before the next message it gets.
//
// # Reliability tests
//
// Faults injects latency, error statuses (for the next N calls or a fraction
// of calls) and closed connections, per method; AdminHandler exposes the same
// over HTTP for a standalone emulator. Close followed by Start(srv.Config())
// restarts an emulator on the same address with the same keys, as a Momento
// outage and recovery would look to clients.
package momentolocal
