package momentolocal_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/momento"
	"github.com/momentohq/client-sdk-go/utils"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/tvmgo/tvm/momentolocal"

	"github.com/tvmgo/tvm/internal/testenv"
)

// TestGenerateDisposableTokenDuplicatePermissions: the same cache, topic or
// item selector twice, whatever the roles, is INVALID_ARGUMENT (client-sdk-go
// momento/auth_client_test.go and client-sdk-javascript
// packages/common-integration-tests/src/auth/auth-client.ts, "cannot create
// token with duplicate/conflicting ... permissions").
func TestGenerateDisposableTokenDuplicatePermissions(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	ac := rootAuthClient(t, srv)
	c1 := momento.CacheName{Name: "c1"}
	tests := []struct {
		name  string
		perms []momento.Permission
		ok    bool
	}{
		{"cache, all caches twice", []momento.Permission{
			momento.CachePermission{Role: momento.ReadOnly, Cache: momento.AllCaches{}},
			momento.CachePermission{Role: momento.ReadWrite, Cache: momento.AllCaches{}}}, false},
		{"cache, one cache twice, same role", []momento.Permission{
			momento.CachePermission{Role: momento.ReadOnly, Cache: c1},
			momento.CachePermission{Role: momento.ReadOnly, Cache: c1}}, false},
		{"topic, cache and topic twice", []momento.Permission{
			momento.TopicPermission{Role: momento.SubscribeOnly, Cache: c1, Topic: momento.TopicName{Name: "t"}},
			momento.TopicPermission{Role: momento.PublishSubscribe, Cache: c1, Topic: momento.TopicName{Name: "t"}}}, false},
		{"topic prefix twice", []momento.Permission{
			momento.TopicPermission{Role: momento.SubscribeOnly, Cache: momento.AllCaches{}, Topic: momento.TopicNamePrefix{NamePrefix: "room-"}},
			momento.TopicPermission{Role: momento.PublishOnly, Cache: momento.AllCaches{}, Topic: momento.TopicNamePrefix{NamePrefix: "room-"}}}, false},
		{"one key twice", []momento.Permission{
			momento.DisposableTokenCachePermission{Role: momento.ReadOnly, Cache: c1, Item: momento.CacheItemKey{Key: []byte("k")}},
			momento.DisposableTokenCachePermission{Role: momento.WriteOnly, Cache: c1, Item: momento.CacheItemKey{Key: []byte("k")}}}, false},
		{"all caches and one cache", []momento.Permission{
			momento.CachePermission{Role: momento.ReadOnly, Cache: momento.AllCaches{}},
			momento.CachePermission{Role: momento.ReadWrite, Cache: c1}}, true},
		{"a cache and its topics", []momento.Permission{
			momento.CachePermission{Role: momento.ReadWrite, Cache: c1},
			momento.TopicPermission{Role: momento.PublishSubscribe, Cache: c1, Topic: momento.AllTopics{}}}, true},
		{"topic name and the same prefix", []momento.Permission{
			momento.TopicPermission{Role: momento.SubscribeOnly, Cache: c1, Topic: momento.TopicName{Name: "room-"}},
			momento.TopicPermission{Role: momento.PublishSubscribe, Cache: c1, Topic: momento.TopicNamePrefix{NamePrefix: "room-"}}}, true},
		{"a key and a key prefix", []momento.Permission{
			momento.DisposableTokenCachePermission{Role: momento.ReadOnly, Cache: c1, Item: momento.CacheItemKey{Key: []byte("k")}},
			momento.DisposableTokenCachePermission{Role: momento.ReadOnly, Cache: c1, Item: momento.CacheItemKeyPrefix{KeyPrefix: []byte("k")}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vend(t, ac, momento.Permissions{Permissions: tt.perms}, utils.ExpiresInMinutes(5), "id")
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Equal(t, momento.InvalidArgumentError, momentoErrorCode(err), "%v", err)
			}
		})
	}
}

// TestGenerateDisposableTokenPermissionCount: at most 20 permission
// statements per token (public-dev-docs docs/platform/limits/auth.mdx).
func TestGenerateDisposableTokenPermissionCount(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	ac := rootAuthClient(t, srv)
	perms := func(n int) momento.Permissions {
		var ps []momento.Permission
		for i := range n {
			ps = append(ps, momento.TopicPermission{Role: momento.SubscribeOnly, Cache: momento.AllCaches{}, Topic: momento.TopicName{Name: fmt.Sprint("t", i)}})
		}
		return momento.Permissions{Permissions: ps}
	}
	_, err := vend(t, ac, perms(20), utils.ExpiresInMinutes(5), "twenty")
	require.NoError(t, err)
	_, err = vend(t, ac, perms(21), utils.ExpiresInMinutes(5), "twenty-one")
	assert.Equal(t, momento.InvalidArgumentError, momentoErrorCode(err), "%v", err)
	assert.Len(t, srv.TokenRequests(), 1)
}

// TestGenerateDisposableTokenTokenIDLength: the limit of 64 is counted as
// the JS SDKs count it, in UTF-16 code units (client-sdk-javascript
// packages/core/src/internal/utils/validators.ts,
// validateDisposableTokenTokenID: tokenId.length > 64). client-sdk-go
// v1.38.0 sends any length.
func TestGenerateDisposableTokenTokenIDLength(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	ac := rootAuthClient(t, srv)
	scope := momento.TopicSubscribeOnly(momento.AllCaches{}, momento.AllTopics{})
	for _, tt := range []struct {
		id string
		ok bool
	}{
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{strings.Repeat("é", 64), true},  // 128 bytes, 64 code units
		{strings.Repeat("😀", 32), true},  // 128 bytes, 64 code units
		{strings.Repeat("😀", 33), false}, // 66 code units
		{strings.Repeat("€", 65), false},
	} {
		_, err := vend(t, ac, scope, utils.ExpiresInMinutes(5), tt.id)
		if tt.ok {
			assert.NoError(t, err, "%d bytes", len(tt.id))
		} else {
			assert.Equal(t, momento.InvalidArgumentError, momentoErrorCode(err), "%d bytes: %v", len(tt.id), err)
		}
	}
}

// TestGenerateDisposableTokenExpiryLimit: up to 25 hours (public-dev-docs
// docs/platform/limits/auth.mdx). client-sdk-go v1.38.0 refuses more than
// an hour before sending, so this test sends the request itself; the Node
// SDK test sends 25 h through the SDK.
func TestGenerateDisposableTokenExpiryLimit(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	c := newRawClient(t, srv.Addr(), srv.RootAPIKey())
	for _, tt := range []struct {
		secs uint32
		want codes.Code
	}{
		{3600, codes.OK},
		{25 * 3600, codes.OK},
		{25*3600 + 1, codes.InvalidArgument},
		{0, codes.InvalidArgument},
	} {
		_, err := c.generateToken(t, ctxT(t), tt.secs, "id")
		assert.Equal(t, tt.want, status.Code(err), "%d s: %v", tt.secs, err)
	}
	reqs := srv.TokenRequests()
	require.Len(t, reqs, 2)
	assert.Equal(t, 25*time.Hour, reqs[1].ValidFor)

	// The Go SDK's own check, for the record.
	_, err := vend(t, rootAuthClient(t, srv), momento.TopicSubscribeOnly(momento.AllCaches{}, momento.AllTopics{}), utils.ExpiresInMinutes(61), "")
	require.Error(t, err, "client-sdk-go v1.38.0 refuses over an hour before sending")
	assert.Len(t, srv.TokenRequests(), 2)
}

// generateToken sends a GenerateDisposableToken request with one
// subscribe-only permission and returns the api key.
func (c *rawClient) generateToken(t testing.TB, ctx context.Context, validForSecs uint32, tokenID string) (string, error) {
	req := newMsg(t, "token._GenerateDisposableTokenRequest", map[string]any{"token_id": tokenID})
	setField := func(m protoreflect.Message, name string, v protoreflect.Value) {
		m.Set(m.Descriptor().Fields().ByName(protoreflect.Name(name)), v)
	}
	fd := req.Descriptor().Fields().ByName("expires")
	exp := dynamicpb.NewMessage(fd.Message())
	setField(exp, "valid_for_seconds", protoreflect.ValueOfUint32(validForSecs))
	req.Set(fd, protoreflect.ValueOfMessage(exp))
	perms := req.Mutable(req.Descriptor().Fields().ByName("permissions")).Message()
	explicit := perms.Mutable(perms.Descriptor().Fields().ByName("explicit")).Message()
	list := explicit.Mutable(explicit.Descriptor().Fields().ByName("permissions")).List()
	pt := list.NewElement().Message()
	tp := pt.Mutable(pt.Descriptor().Fields().ByName("topic_permissions")).Message()
	setField(tp, "role", protoreflect.ValueOfEnum(2)) // TopicReadOnly
	tp.Mutable(tp.Descriptor().Fields().ByName("all_caches"))
	tp.Mutable(tp.Descriptor().Fields().ByName("all_topics"))
	list.Append(protoreflect.ValueOfMessage(pt))

	resp := dynamicpb.NewMessage(msgDesc(t, "token._GenerateDisposableTokenResponse"))
	var trailer metadata.MD
	err := c.conn.Invoke(metadata.AppendToOutgoingContext(ctx, "authorization", c.key), "/token.Token/GenerateDisposableToken", req, resp, grpc.Trailer(&trailer))
	if err != nil {
		if e := trailer.Get("err"); len(e) == 1 {
			return "", fmt.Errorf("%w (err: %s)", err, e[0])
		}
		return "", err
	}
	return resp.Get(resp.Descriptor().Fields().ByName("api_key")).String(), nil
}

// TestTokenQuota: Config.TokenQuota limits the token service to N
// operations per second for the whole emulator, shared by every client;
// over it, RESOURCE_EXHAUSTED with "err: operations_rate_limit_exceeded",
// which client-sdk-go turns into LimitExceededError "Request rate limit
// exceeded for this account" (internal/momentoerrors/scs_errors.go).
func TestTokenQuota(t *testing.T) {
	clock := &testenv.ShiftedClock{}
	srv := startServer(t, momentolocal.Config{TokenQuota: 3, RequireAPIKey: true, Now: clock.Now})
	cp, err := srv.CredentialProvider()
	require.NoError(t, err)
	scope := momento.TopicSubscribeOnly(momento.AllCaches{}, momento.AllTopics{})
	clients := []momento.AuthClient{newAuthClient(t, cp), newAuthClient(t, cp), newAuthClient(t, cp)}

	// A refused unauthenticated call is not the account's: it uses nothing.
	_, err = newRawClient(t, srv.Addr(), "not-a-key").generateToken(t, ctxT(t), 60, "x")
	require.Equal(t, codes.Unauthenticated, status.Code(err))

	for i, ac := range clients {
		_, err := vend(t, ac, scope, utils.ExpiresInMinutes(1), fmt.Sprint("c", i))
		require.NoError(t, err, "call %d of 3", i+1)
	}
	for _, ac := range clients {
		_, err := vend(t, ac, scope, utils.ExpiresInMinutes(1), "over")
		assert.Equal(t, momento.LimitExceededError, momentoErrorCode(err), "%v", err)
		assert.Contains(t, innermostMessage(err), "Request rate limit exceeded for this account", "the SDK read err: operations_rate_limit_exceeded")
	}
	_, err = newRawClient(t, srv.Addr(), srv.RootAPIKey()).generateToken(t, ctxT(t), 60, "raw")
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Contains(t, err.Error(), "(err: operations_rate_limit_exceeded)")

	clock.Advance(400 * time.Millisecond) // 1.2 operations refilled
	_, err = vend(t, clients[1], scope, utils.ExpiresInMinutes(1), "refilled")
	require.NoError(t, err)
	_, err = vend(t, clients[2], scope, utils.ExpiresInMinutes(1), "not yet")
	assert.Equal(t, momento.LimitExceededError, momentoErrorCode(err), "%v", err)
	clock.Advance(time.Second)
	for i, ac := range clients {
		_, err := vend(t, ac, scope, utils.ExpiresInMinutes(1), fmt.Sprint("again", i))
		require.NoError(t, err, "a second later the quota is whole again")
	}
	assert.Len(t, srv.TokenRequests(), 7)

	// Without a quota there is none.
	free := startServer(t, momentolocal.Config{})
	fcp, err := free.CredentialProvider()
	require.NoError(t, err)
	fac := newAuthClient(t, fcp)
	for i := range 20 {
		_, err := vend(t, fac, scope, utils.ExpiresInMinutes(1), fmt.Sprint(i))
		require.NoError(t, err)
	}
}

// innermostMessage returns the Message of the innermost Momento error in
// err's chain (AuthClient wraps the service's error in a ClientSdkError).
func innermostMessage(err error) string {
	msg := ""
	for depth := 0; err != nil && depth < 10; depth++ {
		var me interface {
			Message() string
			OriginalErr() error
		}
		if !errors.As(err, &me) {
			break
		}
		msg = me.Message()
		err = me.OriginalErr()
	}
	return msg
}
