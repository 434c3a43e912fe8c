// Package momentolocal is an embedded emulator of the parts of Momento that
// token vending machines and their clients use: the token service
// (GenerateDisposableToken), topics (Publish and Subscribe) and a cache
// (Get, Set, Delete, Increment). The official SDKs talk to it unchanged:
// native gRPC for the Go and Node SDKs, gRPC-Web text for the browser SDK,
// both on one TCP port.
//
// It is to Momento what net/http/httptest is to an HTTP server: start one in
// a test with Start, point the SDK at it with CredentialProvider (or
// Endpoints), and Close it at the end.
//
// The emulator enforces what Momento enforces. Every data-plane call must
// carry, in its "authorization" metadata, an api key this emulator issued
// and that has not expired (else UNAUTHENTICATED); the key's permissions
// must cover the cache, topic or key with the right role (else
// PERMISSION_DENIED); the cache must exist (else NOT_FOUND). The rules live
// in Allows.
package momentolocal
