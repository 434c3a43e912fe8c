package momentolocal

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// TokenRequest is one GenerateDisposableToken request the emulator accepted,
// as it arrived on the wire.
type TokenRequest struct {
	// TokenID is the token id the caller asked for ("" when none).
	TokenID string
	// ValidFor is the requested validity.
	ValidFor time.Duration
	// Permissions are the requested permissions, in request order.
	Permissions []Permission
}

// issuer is the "iss" of every key the emulator signs.
const issuer = "momentolocal"

// Kinds of keys the emulator signs.
const (
	kindRoot       = "root"
	kindDisposable = "disposable"
)

// keyClaims are the claims of an api key signed by the emulator. Keys are
// HS256 JWTs signed with the server's secret: self-contained (the
// permissions travel in the key) and unforgeable without the secret.
type keyClaims struct {
	Type    string      `json:"t,omitempty"` // "g" in v2 api keys
	Kind    string      `json:"knd"`
	TokenID string      `json:"tid,omitempty"`
	Perms   []claimPerm `json:"perms,omitempty"`
	Cache   string      `json:"c,omitempty"`  // endpoint, read by the SDKs' legacy key parser
	Control string      `json:"cp,omitempty"` // endpoint, read by the SDKs' legacy key parser
	jwt.RegisteredClaims
}

// claimPerm is a Permission inside a key. Keys and key prefixes are bytes on
// the wire, so they travel as base64 ([]byte) to survive any byte value.
type claimPerm struct {
	Role        string `json:"r"`
	Cache       string `json:"c"`
	Topic       string `json:"t,omitempty"`
	TopicPrefix string `json:"tp,omitempty"`
	Key         []byte `json:"k,omitempty"`
	KeyPrefix   []byte `json:"kp,omitempty"`
}

func toClaimPerms(ps []Permission) []claimPerm {
	out := make([]claimPerm, len(ps))
	for i, p := range ps {
		out[i] = claimPerm{Role: p.Role, Cache: p.Cache, Topic: p.Topic, TopicPrefix: p.TopicPrefix}
		if p.Key != "" {
			out[i].Key = []byte(p.Key)
		}
		if p.KeyPrefix != "" {
			out[i].KeyPrefix = []byte(p.KeyPrefix)
		}
	}
	return out
}

func fromClaimPerms(cs []claimPerm) []Permission {
	out := make([]Permission, len(cs))
	for i, c := range cs {
		out[i] = Permission{Role: c.Role, Cache: c.Cache, Topic: c.Topic, TopicPrefix: c.TopicPrefix,
			Key: string(c.Key), KeyPrefix: string(c.KeyPrefix)}
	}
	return out
}

// principal is the verified caller of a data-plane call.
type principal struct {
	root    bool // the root api key: every data-plane permission
	tokenID string
	perms   []Permission
}

// allows reports whether the principal may perform r.
func (p *principal) allows(r Request) bool {
	return p.root || Allows(p.perms, r)
}

// errNoKey and errBadKey are the causes of UNAUTHENTICATED answers. Their
// text never contains the presented key.
var (
	errNoKey  = errors.New("no api key in the authorization metadata")
	errBadKey = errors.New("invalid api key")
)

// signKey signs claims with the server's secret.
func (s *Server) signKey(c *keyClaims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	signed, err := tok.SignedString(s.secret)
	if err != nil {
		return "", fmt.Errorf("momentolocal: signing api key: %w", err)
	}
	return signed, nil
}

// makeRootKey builds the root api key: a JWT of kind root whose "c" and "cp"
// claims name this server's host, the legacy key shape that
// auth.NewStringMomentoTokenProvider parses (it appends port 443 and
// assumes TLS, so SDK users override the endpoints; see Endpoints). It has no expiry and is
// deterministic for a given secret and address, so a server restarted with
// the same Config.SigningKey and Addr keeps its root key.
func (s *Server) makeRootKey() (string, error) {
	return s.signKey(&keyClaims{
		Kind:    kindRoot,
		Cache:   s.host(),
		Control: s.host(),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:  issuer,
			Subject: "root",
		},
	})
}

// makeRootKeyV2 builds the root api key in the shape of Momento's v2 api
// keys: a JWT whose claims hold "t": "g" and no endpoint, which SDKs pair
// with an endpoint. Deterministic for a given secret.
func (s *Server) makeRootKeyV2() (string, error) {
	return s.signKey(&keyClaims{
		Type: "g",
		Kind: kindRoot,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:  issuer,
			Subject: "root",
		},
	})
}

// verifyKey verifies an api key signed by this server and returns its
// principal. Any failure is errBadKey, without detail that could help forge.
func (s *Server) verifyKey(key string) (*principal, error) {
	if key == "" {
		return nil, errNoKey
	}
	var c keyClaims
	_, err := jwt.ParseWithClaims(key, &c, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithTimeFunc(s.now),
		jwt.WithStrictDecoding(), // one spelling per key: no malleable signature bits
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: expired", errBadKey)
		}
		return nil, errBadKey
	}
	switch c.Kind {
	case kindRoot:
		return &principal{root: true}, nil
	case kindDisposable:
		if c.ExpiresAt == nil {
			return nil, errBadKey
		}
		return &principal{tokenID: c.TokenID, perms: fromClaimPerms(c.Perms)}, nil
	}
	return nil, errBadKey
}

// authenticate verifies the api key in the "authorization" metadata of a
// data-plane call. It answers UNAUTHENTICATED when the key is missing, not
// issued by this server, tampered with or expired.
func (s *Server) authenticate(ctx context.Context) (*principal, error) {
	p, err := s.verifyKey(authorizationFrom(ctx))
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return p, nil
}

// authorizationFrom returns the "authorization" metadata value, or "". A
// leading "Bearer " is accepted and removed.
func authorizationFrom(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return ""
	}
	v := strings.TrimSpace(vals[0])
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		v = strings.TrimSpace(v[7:])
	}
	return v
}

// generateDisposableToken implements /token.Token/GenerateDisposableToken.
// In order: the caller (a disposable token: PERMISSION_DENIED; with
// RequireAPIKey, anything but a root key: UNAUTHENTICATED), the quota
// (RESOURCE_EXHAUSTED), then the request (INVALID_ARGUMENT).
func (s *Server) generateDisposableToken(ctx context.Context, req *dynamicpb.Message) (proto.Message, error) {
	presented := authorizationFrom(ctx)
	if presented == "" {
		presented = getString(req, "auth_token")
	}
	if p, err := s.verifyKey(presented); err == nil && !p.root {
		return nil, status.Error(codes.PermissionDenied, "Insufficient permissions: a disposable token cannot generate disposable tokens")
	}
	if s.cfg.RequireAPIKey {
		if presented == "" {
			return nil, status.Error(codes.Unauthenticated, errNoKey.Error())
		}
		if !s.isRootKey(presented) {
			return nil, status.Error(codes.Unauthenticated, errBadKey.Error())
		}
	}
	if !s.quota.allow(s.now()) {
		return nil, limitExceeded(causeOperationsRate,
			"too many operations: the token service allows %d operations per second for this account", s.cfg.TokenQuota)
	}

	validFor, err := tokenValidity(getMessage(req, "expires"))
	if err != nil {
		return nil, err
	}
	perms, err := permissionsFromProto(getMessage(req, "permissions"))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid permissions: %v", err)
	}
	tokenID := getString(req, "token_id")
	if utf16Len(tokenID) > MaxTokenIDLength {
		return nil, status.Errorf(codes.InvalidArgument, "token_id must be at most %d characters (UTF-16 code units)", MaxTokenIDLength)
	}

	now := s.now()
	exp := now.Truncate(time.Second).Add(validFor)
	jti, err := randomID()
	if err != nil {
		return nil, status.Error(codes.Internal, "generating token id")
	}
	key, err := s.signKey(&keyClaims{
		Kind:    kindDisposable,
		TokenID: tokenID,
		Perms:   toClaimPerms(perms),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			ID:        jti,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	})
	if err != nil {
		return nil, status.Error(codes.Internal, "signing token")
	}

	s.mu.Lock()
	s.recordTokenRequest(TokenRequest{TokenID: tokenID, ValidFor: validFor, Permissions: perms})
	s.mu.Unlock()

	resp := dynamicpb.NewMessage(s.desc.genTokenResp)
	setString(resp, "api_key", key)
	setString(resp, "endpoint", s.endpoint)
	setUint(resp, "valid_until", uint64(exp.Unix()))
	return resp, nil
}

// tokenValidity reads the request's expiry: required, positive, at most
// MaxTokenValidity.
func tokenValidity(expires protoreflect.Message) (time.Duration, error) {
	if expires == nil {
		return 0, status.Error(codes.InvalidArgument, "expires is required: disposable tokens must expire")
	}
	secs := getUint(expires, "valid_for_seconds")
	if secs == 0 {
		return 0, status.Error(codes.InvalidArgument, "expires.valid_for_seconds must be positive")
	}
	validFor := time.Duration(secs) * time.Second
	if validFor > MaxTokenValidity {
		return 0, status.Errorf(codes.InvalidArgument, "disposable tokens must expire within %s (%d seconds)",
			MaxTokenValidity, int64(MaxTokenValidity/time.Second))
	}
	return validFor, nil
}

// isRootKey reports whether key is one of the root keys, in constant time.
func (s *Server) isRootKey(key string) bool {
	v1 := subtle.ConstantTimeCompare([]byte(key), []byte(s.rootKey))
	v2 := subtle.ConstantTimeCompare([]byte(key), []byte(s.rootKeyV2))
	return v1|v2 == 1
}

// utf16Len is the length of s in UTF-16 code units, as JavaScript counts
// string length.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// host returns the host part of the server's address.
func (s *Server) host() string {
	h, _, err := net.SplitHostPort(s.addr)
	if err != nil {
		return s.addr
	}
	return h
}
