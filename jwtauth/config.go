package jwtauth

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Config configures an Authenticator (see New): the issuers whose tokens it
// accepts, and what they share. The zero value is not usable: at least one
// Issuer is required, and every problem is reported as a *tvm.ConfigError
// whose Field starts with "Config." (for example "Config.Issuers[1].Audience").
//
// The authenticator reads `Authorization: Bearer <jwt>` only (the scheme is
// matched case-insensitively, as RFC 7235 says, followed by exactly one
// space). The token's `iss`, read before verification and only to pick a
// configuration, selects exactly one Issuer; that issuer's audience,
// algorithms, key source and claim mapping then verify the token, and the
// keys of another issuer are never tried. A token whose `iss` names no
// configured issuer is refused (bad_issuer) before any key lookup. The
// signature is verified with a key chosen by the token's `kid`; then `exp`
// (always required), `nbf` and `iat` (never in the future) are checked with
// Leeway, and `aud`, the subject, the groups and the required claims. The
// `jku`, `x5u`, `jwk` and `x5c` header parameters are ignored: keys come
// only from the configured source. Tokens with a `crit` header or signed
// with an algorithm outside the issuer's Algorithms are refused.
type Config struct {
	// Issuers are the token issuers accepted. Required: at least one. No
	// two may accept the same `iss` value, and no two may have the same
	// Name.
	Issuers []Issuer

	// Leeway is the clock-skew allowance for `exp`, `nbf` and `iat`. Zero
	// means 30s; at most 5m. There is no way to ask for no leeway at all:
	// use a small value such as time.Second.
	Leeway time.Duration
	// MaxTokenBytes bounds the bearer token; longer tokens are refused
	// before any parsing. Zero means 8 KiB (8192); at most 64 KiB.
	MaxTokenBytes int

	// HTTPClient fetches discovery documents and key sets. Nil means a
	// client of our own. It is copied, never modified: the copy's Timeout
	// is at most HTTPTimeout and its transport refuses bodies longer than
	// MaxResponseBytes.
	HTTPClient *http.Client
	// HTTPTimeout bounds every request to an identity provider (discovery,
	// key set), including the first ones made by New. Zero means 10s; at
	// most 1m.
	HTTPTimeout time.Duration
	// RefreshInterval is the background refresh period of remote key sets
	// (JWKSURL, or the jwks_uri found by discovery). Zero means 1h; at
	// least 1s.
	RefreshInterval time.Duration
	// UnknownKIDRefreshInterval is the least time between two refreshes of
	// one key set triggered by tokens whose `kid` is not in it, so that a
	// flood of made-up key ids cannot make us flood the issuer. Concurrent
	// requests with the same unknown key id wait for the one refresh in
	// flight. Zero means 10s; at least 1s.
	UnknownKIDRefreshInterval time.Duration
	// MaxResponseBytes bounds the body of every identity provider response
	// (discovery documents and key sets). Zero means 1 MiB.
	MaxResponseBytes int64

	// CacheSize bounds the cache of verified tokens: a token seen again is
	// not verified again while its `exp` has not passed and the key that
	// verified it is still in its issuer's key set (a rotation that removes
	// the key ends the entry). Entries are keyed by a SHA-256 hash of the
	// whole token, so a token that differs in any byte (a forged signature
	// included) never hits another's entry; failures are never cached.
	// Zero means 10000 tokens; negative is refused.
	CacheSize int
	// DisableCache turns the cache of verified tokens off: every request's
	// token is verified (about 60 µs of CPU for RS256).
	DisableCache bool

	// Context bounds the first requests made by New (together with
	// HTTPTimeout) and all background work (discovery retries, key
	// refreshes): cancelling it stops them like Close does. With a context
	// that is already done, New builds the authenticator without any
	// network request and starts no background work (as `tvm check` does).
	// Nil means context.Background().
	Context context.Context
	// Logger receives discovery and key set failures. Nil means
	// slog.Default(). Tokens and secrets are never logged.
	Logger *slog.Logger
	// Now is the clock used to check `exp`, `nbf` and `iat`. Nil means
	// time.Now. For tests.
	Now func() time.Time
}

// Issuer configures one token issuer. Set Issuer, Audience and Algorithms
// and at most one key source (JWKSURL, JWKSFile, JWKSJSON, Keys or HMAC);
// with none, the key set is found by OpenID Connect discovery. Or set one
// preset, Cognito or Entra, which derives the issuer, algorithms and keys.
type Issuer struct {
	// Name names the issuer in logs and becomes Identity.Method, which
	// keeps the subjects of different issuers apart in token reuse and rate
	// limits. Default "jwt" ("cognito" with Cognito, "entra" with Entra):
	// with several issuers, give each its own name. Lower-case letters,
	// digits, '-' and '_', at most 32.
	Name string

	// Issuer is the exact `iss` value of this issuer's tokens, e.g.
	// "https://login.example.com/realms/chat". Required unless a preset is
	// set. Without a key source it must be an https URL (http only on a
	// loopback host, or with AllowInsecureHTTP): the key set is then found
	// by OpenID Connect discovery, from
	// Issuer + "/.well-known/openid-configuration", whose `issuer` must
	// equal Issuer exactly and whose `jwks_uri` must be https (http only on
	// a loopback host, or with AllowInsecureHTTP). If the provider cannot
	// be reached when New runs, New still succeeds: discovery is retried in
	// the background with exponential backoff (1s doubling to 1m), and
	// tokens of this issuer get an error wrapping tvm.ErrUpstreamUnavailable
	// (503, with Retry-After) until it succeeds. A document that fails the
	// checks is logged as an error and treated the same way.
	Issuer string
	// IssuerAliases are other exact `iss` values of the same issuer, for
	// issuers that spell their name two ways (Google:
	// "accounts.google.com" besides "https://accounts.google.com").
	// Discovery uses Issuer only.
	IssuerAliases []string

	// Audience lists accepted `aud` values: the token's `aud` must contain
	// at least one of them. Required unless AllowMissingAudience.
	Audience []string
	// AllowMissingAudience accepts tokens that carry no `aud` claim at all
	// (Clerk session tokens, Cognito access tokens); a token that carries
	// one must still name one of Audience (with Audience empty, it is
	// refused). It requires RequiredClaims, such as `azp` or `client_id`,
	// to tie the token to your application: without an audience, a token
	// the same issuer minted for another application would otherwise pass.
	AllowMissingAudience bool

	// Algorithms is the explicit allow-list of signing algorithms, e.g.
	// []string{"RS256"}. Required unless a preset is set. Public-key
	// algorithms: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384,
	// ES512 and EdDSA. HMAC algorithms (HS256, HS384, HS512) only with the
	// HMAC key source, and never mixed with public-key algorithms, so that
	// no token can make a public key serve as an HMAC secret (algorithm
	// confusion). "none" is refused.
	Algorithms []string

	// Key source: set at most one of JWKSURL, JWKSFile, JWKSJSON, Keys and
	// HMAC; with none (and no preset), discovery finds the key set.

	// JWKSURL is the address of the issuer's JSON Web Key Set, fetched with
	// MicahParks/keyfunc: once by New (bounded by HTTPTimeout; a failure is
	// logged, not fatal), then every RefreshInterval in the background, and
	// when a token names an unknown `kid` (at most once per
	// UnknownKIDRefreshInterval). Until a first fetch succeeds, tokens of
	// this issuer get an error wrapping tvm.ErrUpstreamUnavailable. It must
	// be https, except on a loopback host (127.0.0.1, ::1, localhost) or
	// with AllowInsecureHTTP, and must not contain credentials. Keys whose
	// `use` is not "sig" are skipped. With a preset, it replaces the
	// preset's key set address (tests, proxies, VPC endpoints); the issuer
	// check is not affected.
	JWKSURL string
	// JWKSFile is the path of a JSON Web Key Set file of at most
	// MaxResponseBytes, read once by New. Keys whose `use` is "enc" are
	// skipped; every other key must have a `kid` and be usable, and at
	// least one must remain.
	JWKSFile string
	// JWKSJSON is a JSON Web Key Set document, read as JWKSFile is.
	JWKSJSON []byte
	// Keys maps key ids (`kid`) to public keys: *rsa.PublicKey (at least
	// 2048 bits), *ecdsa.PublicKey (P-256, P-384, P-521) or
	// ed25519.PublicKey. Private and symmetric keys are refused, and so is
	// a key that can verify none of Algorithms.
	Keys map[string]crypto.PublicKey
	// HMAC is the shared secret of HS256/384/512 tokens: for tokens your
	// own services issue, or Supabase's legacy JWT secret. Anyone holding
	// the secret can mint tokens; prefer public keys where the issuer
	// offers them.
	HMAC *HMACKey
	// AllowInsecureHTTP accepts http:// for Issuer (discovery), JWKSURL
	// and a discovered jwks_uri on a non-loopback host, e.g. a Keycloak
	// container on a private network. Anyone who can tamper with that
	// traffic can mint tokens.
	AllowInsecureHTTP bool

	// Cognito makes this issuer an Amazon Cognito user pool (see Cognito).
	// Leave Issuer, IssuerAliases, Audience, AllowMissingAudience and
	// Algorithms empty: they are derived. Of the key sources, only JWKSURL
	// may be set.
	Cognito *Cognito
	// Entra makes this issuer Microsoft Entra ID (v2.0 tokens) for an
	// explicit list of tenants (see Entra). Leave Issuer, IssuerAliases and
	// Algorithms empty; Audience is required. Of the key sources, only
	// JWKSURL may be set.
	Entra *Entra

	// SubjectClaim is the path of the claim that becomes Identity.Subject.
	// Default "sub". A missing, empty or non-string subject makes the token
	// invalid. Paths are written as for GroupsClaims.
	SubjectClaim string
	// GroupsClaims are the paths of the claims whose values become
	// Identity.Groups, in order (duplicates dropped). Default ["groups"]
	// (["cognito:groups"] with Cognito). A path is a claim name, then
	// `.name` or `["any name"]` steps into nested objects:
	// "realm_access.roles", `resource_access["my.client"].roles`. A name
	// holding anything but letters, digits, '_', '-', ':' and '$' (such as
	// Auth0's namespaced "https://example.com/roles") must be bracketed:
	// `["https://example.com/roles"]`. A claim may be a JSON array of
	// strings or a single string; a missing or null claim adds no groups;
	// any other type makes the token invalid. When a top-level groups
	// claim is missing because the issuer moved it out of the token
	// (`_claim_names` names it: Entra ID's groups overage, for users in
	// more than 200 groups), the token is refused with the code
	// groups_overage rather than treated as having no groups.
	GroupsClaims []string
	// RequiredClaims maps claim paths (written as for GroupsClaims) to the
	// values accepted for them: the claim must be a string equal to one of
	// them, or an array holding one of them. For example Clerk's
	// {"azp": {"https://app.example.com"}}. Refusals have the code
	// bad_claims.
	RequiredClaims map[string][]string
	// CheckClaims, if set, is called with the verified claims after every
	// other check passed; an error makes the token invalid (code
	// "bad_claims", or the code of a *TokenError it returns). It must not
	// modify the map.
	CheckClaims func(claims map[string]any) error

	// OutliveCredential lets tokens vended for this issuer's callers
	// outlive the caller's credential by at most this much: it is added to
	// the token's `exp` to make Identity.ExpiresAt, which tvm's handler
	// never lets a vended token outlive. For issuers whose tokens live a
	// minute (Clerk) or five (Keycloak), so that a browser does not need a
	// Momento token every minute. The trade-off: a user signed out or
	// disabled at the issuer keeps Momento access up to this long after
	// their last credential expired. Zero (the default) means the vended
	// token never outlives the credential; at most 1h (tvm.MaxTokenTTL).
	// The credential itself is not extended: an expired token is still
	// refused, and Identity.Claims["exp"] is the token's own.
	OutliveCredential time.Duration
}

// HMACKey is the HMAC key source of an Issuer.
type HMACKey struct {
	// Secret is the shared secret, at least as long as the hash output of
	// each algorithm (RFC 7518 section 3.2): 32 bytes for HS256, 48 for
	// HS384, 64 for HS512. It never appears in errors or logs, and prints
	// as "[redacted]".
	Secret Secret
	// KeyID, if set, must equal the token's `kid`. Empty means the `kid`
	// header is not looked at (a single secret needs no lookup).
	KeyID string
}

// Secret is a byte string that never prints: fmt and log/slog show
// "[redacted]" whatever the verb, and so do encoders of a struct holding
// one (encoding/json, hence slog's JSON handler, and YAML), which call
// neither Format nor LogValue on nested fields.
type Secret []byte

// Format prints "[redacted]".
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue logs "[redacted]".
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText encodes "[redacted]" (encoding/json and YAML encoders use
// it), never the secret.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

const redacted = "[redacted]"

// Cognito configures an Issuer for an Amazon Cognito user pool. Region,
// UserPoolID, ClientID and TokenUse are all required.
//
// The issuer is https://cognito-idp.{Region}.amazonaws.com/{UserPoolID}
// (tokens carrying the newer
// https://issuer.cognito-idp.{Region}.amazonaws.com/{UserPoolID} form are
// accepted too), the keys come from {issuer}/.well-known/jwks.json (or
// Issuer.JWKSURL), the algorithm is RS256, and `token_use` must equal
// TokenUse (code bad_token_use). For ID tokens ClientID must be in `aud`;
// for access tokens, which have no `aud`, it must be the `client_id` claim
// (code bad_audience). Groups come from `cognito:groups` unless
// Issuer.GroupsClaims says otherwise.
type Cognito struct {
	// Region is the AWS region of the user pool, e.g. "us-west-2".
	Region string
	// UserPoolID is the pool id, e.g. "us-west-2_aBcDeFgHi"; it must start
	// with Region and an underscore.
	UserPoolID string
	// ClientID is the app client id tokens must be issued to.
	ClientID string
	// TokenUse is "id" (CognitoIDToken) or "access" (CognitoAccessToken):
	// the kind of token your clients send.
	TokenUse string
}

// Cognito token uses (Cognito.TokenUse).
const (
	// CognitoIDToken selects Cognito ID tokens: the client id must be in
	// `aud`.
	CognitoIDToken = "id"
	// CognitoAccessToken selects Cognito access tokens: the client id must
	// be the `client_id` claim (access tokens have no `aud`).
	CognitoAccessToken = "access"
)

// Entra configures an Issuer for Microsoft Entra ID (formerly Azure AD)
// v2.0 tokens from an explicit list of tenants: a multi-tenant application
// accepts only the tenants it lists. Each tenant's tokens carry
// `iss` https://login.microsoftonline.com/{tenant}/v2.0 and a `tid` claim
// that must name the same tenant; the keys are Entra's common key set,
// https://login.microsoftonline.com/common/discovery/v2.0/keys (or
// Issuer.JWKSURL); the algorithm is RS256. Issuer.Audience is the
// application (client) id or Application ID URI your tokens are issued
// for. For app roles set Issuer.GroupsClaims to ["roles"]; for security
// groups, ["groups"] (the default); both may be listed.
type Entra struct {
	// TenantIDs are the directory (tenant) ids accepted, as GUIDs such as
	// "72f988bf-86f1-41af-91ab-2d7cd011db47". Required. "common",
	// "organizations" and "consumers" are not tenants (tokens never carry
	// them as issuer) and are refused; the personal Microsoft account
	// tenant is 9188040d-6c67-4c5b-b112-36a304b66dad.
	TenantIDs []string
}
