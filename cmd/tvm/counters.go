package main

import (
	"crypto/hmac"
	"crypto/sha256"

	"github.com/momentohq/client-sdk-go/momento"
)

// counterStore is where rateLimit.shared and vendLimit.shared keep their
// counters: a Momento cache client, and the secret that names the counters
// (tvm.MomentoRateLimitConfig.Secret).
type counterStore struct {
	momento.CacheClient
	secret []byte
}

// counterSecretLabel is the message of the HMAC that derives the counter
// secret from the Momento API key.
const counterSecretLabel = "tvm rate limit counters"

// counterSecret derives the counter secret from the Momento API key (the
// emulator's root key in local mode): HMAC-SHA256(key, "tvm rate limit
// counters"). Every instance holding the same key names the counters
// alike, no setting is needed, and a holder of a vended token, which never
// sees the API key, cannot compute where a counter is.
func counterSecret(apiKey string) []byte {
	mac := hmac.New(sha256.New, []byte(apiKey))
	mac.Write([]byte(counterSecretLabel))
	return mac.Sum(nil)
}
