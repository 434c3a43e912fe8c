package momentolocal_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/momento"
	authresp "github.com/momentohq/client-sdk-go/responses/auth"
	"github.com/momentohq/client-sdk-go/utils"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvmgo/tvm/momentolocal"
)

// startServer starts an emulator closed at the end of the test.
func startServer(t testing.TB, cfg momentolocal.Config) *momentolocal.Server {
	t.Helper()
	srv, err := momentolocal.Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

// newAuthClient returns a Go SDK auth client using cp, closed at the end of
// the test.
func newAuthClient(t testing.TB, cp auth.CredentialProvider) momento.AuthClient {
	t.Helper()
	c, err := momento.NewAuthClient(config.AuthDefault(), cp)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// rootAuthClient returns a Go SDK auth client on srv's root credentials.
func rootAuthClient(t testing.TB, srv *momentolocal.Server) momento.AuthClient {
	t.Helper()
	cp, err := srv.CredentialProvider()
	require.NoError(t, err)
	return newAuthClient(t, cp)
}

// vend asks the emulator for a disposable token through the Go SDK.
func vend(t testing.TB, ac momento.AuthClient, scope momento.DisposableTokenScope, validFor utils.ExpiresIn, tokenID string) (*authresp.GenerateDisposableTokenSuccess, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := &momento.GenerateDisposableTokenRequest{ExpiresIn: validFor, Scope: scope}
	if tokenID != "" {
		req.Props = momento.DisposableTokenProps{TokenId: &tokenID}
	}
	resp, err := ac.GenerateDisposableToken(ctx, req)
	if err != nil {
		return nil, err
	}
	ok, isOK := resp.(*authresp.GenerateDisposableTokenSuccess)
	require.True(t, isOK, "unexpected response %T", resp)
	return ok, nil
}

// momentoErrorCode returns the SDK error code of err, or "". Some SDK
// clients wrap the service's error in a ClientSdkError; the code returned is
// the innermost one.
func momentoErrorCode(err error) string {
	code := ""
	for depth := 0; err != nil && depth < 10; depth++ {
		var me interface {
			Code() string
			OriginalErr() error
		}
		if !errors.As(err, &me) {
			break
		}
		code = me.Code()
		err = me.OriginalErr()
	}
	return code
}

func TestGenerateDisposableTokenRecordsRequest(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	ac := rootAuthClient(t, srv)

	scope := momento.Permissions{Permissions: []momento.Permission{
		momento.TopicPermission{Role: momento.PublishSubscribe, Cache: momento.CacheName{Name: "default-cache"}, Topic: momento.AllTopics{}},
		momento.TopicPermission{Role: momento.SubscribeOnly, Cache: momento.AllCaches{}, Topic: momento.TopicName{Name: "news"}},
		momento.TopicPermission{Role: momento.PublishOnly, Cache: momento.CacheName{Name: "c2"}, Topic: momento.TopicNamePrefix{NamePrefix: "room-"}},
		momento.CachePermission{Role: momento.ReadWrite, Cache: momento.AllCaches{}},
		momento.CachePermission{Role: momento.ReadOnly, Cache: momento.CacheName{Name: "default-cache"}},
		momento.DisposableTokenCachePermission{Role: momento.WriteOnly, Cache: momento.CacheName{Name: "default-cache"}, Item: momento.CacheItemKey{Key: []byte("k1")}},
		momento.DisposableTokenCachePermission{Role: momento.ReadOnly, Cache: momento.AllCaches{}, Item: momento.CacheItemKeyPrefix{KeyPrefix: []byte("alice/")}},
	}}
	before := time.Now()
	tok, err := vend(t, ac, scope, utils.ExpiresInMinutes(15), "alice")
	require.NoError(t, err)
	assert.NotEmpty(t, tok.ApiKey)
	assert.Equal(t, srv.Addr(), tok.Endpoint)
	assert.WithinDuration(t, before.Add(15*time.Minute), time.Unix(int64(tok.ValidUntil), 0), 2*time.Second)

	want := []momentolocal.TokenRequest{{
		TokenID:  "alice",
		ValidFor: 15 * time.Minute,
		Permissions: []momentolocal.Permission{
			{Role: "publishsubscribe", Cache: "default-cache", Topic: "*"},
			{Role: "subscribeonly", Cache: "*", Topic: "news"},
			{Role: "publishonly", Cache: "c2", TopicPrefix: "room-"},
			{Role: "readwrite", Cache: "*"},
			{Role: "readonly", Cache: "default-cache"},
			{Role: "writeonly", Cache: "default-cache", Key: "k1"},
			{Role: "readonly", Cache: "*", KeyPrefix: "alice/"},
		},
	}}
	assert.Equal(t, want, srv.TokenRequests())

	// The SDK-wrapped key is usable by the SDK against the emulator.
	_, err = srv.CredentialProviderFor(tok.ApiKey)
	require.NoError(t, err)
}

func TestGenerateDisposableTokenWithoutTokenID(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	ac := rootAuthClient(t, srv)
	_, err := vend(t, ac, momento.TopicSubscribeOnly(momento.AllCaches{}, momento.AllTopics{}), utils.ExpiresInSeconds(1), "")
	require.NoError(t, err)
	reqs := srv.TokenRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "", reqs[0].TokenID)
	assert.Equal(t, time.Second, reqs[0].ValidFor)
}

func TestGenerateDisposableTokenValidation(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	ac := rootAuthClient(t, srv)

	tests := []struct {
		name    string
		scope   momento.DisposableTokenScope
		tokenID string
	}{
		{"empty permissions", momento.Permissions{}, "id"},
		{"token id too long", momento.TopicPublishSubscribe(momento.AllCaches{}, momento.AllTopics{}), string(make65())},
		{"empty key", momento.CacheKeyReadWrite(momento.AllCaches{}, momento.String("")), "id"},
		{"empty key prefix", momento.CacheKeyPrefixReadOnly(momento.AllCaches{}, momento.String("")), "id"},
		{"empty topic prefix", momento.TopicNamePrefixPublishSubscribe(momento.AllCaches{}, ""), "id"},
		{"empty cache name", momento.TopicPublishSubscribe(momento.CacheName{Name: ""}, momento.AllTopics{}), "id"},
		{"empty topic name", momento.TopicPublishSubscribe(momento.AllCaches{}, momento.TopicName{Name: ""}), "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vend(t, ac, tc.scope, utils.ExpiresInMinutes(5), tc.tokenID)
			require.Error(t, err)
			assert.Equal(t, momento.InvalidArgumentError, momentoErrorCode(err), "%v", err)
		})
	}
	// A token id of exactly 64 bytes is fine.
	_, err := vend(t, ac, momento.TopicPublishSubscribe(momento.AllCaches{}, momento.AllTopics{}), utils.ExpiresInMinutes(5), string(make65()[:64]))
	require.NoError(t, err)
	assert.Len(t, srv.TokenRequests(), 1, "only the valid request is recorded")
}

func make65() []byte {
	b := make([]byte, 65)
	for i := range b {
		b[i] = 'x'
	}
	return b
}

func TestGenerateDisposableTokenRequireAPIKey(t *testing.T) {
	srv := startServer(t, momentolocal.Config{RequireAPIKey: true})
	scope := momento.TopicPublishSubscribe(momento.AllCaches{}, momento.AllTopics{})

	// The root key is accepted.
	cp, err := srv.CredentialProvider()
	require.NoError(t, err)
	_, err = vend(t, newAuthClient(t, cp), scope, utils.ExpiresInMinutes(1), "ok")
	require.NoError(t, err)

	// The Momento Local provider sends an empty key.
	local, err := auth.NewMomentoLocalProvider(&auth.MomentoLocalConfig{Hostname: "127.0.0.1", Port: uint(port(t, srv.Addr()))})
	require.NoError(t, err)
	_, err = vend(t, newAuthClient(t, local), scope, utils.ExpiresInMinutes(1), "missing")
	assert.Equal(t, momento.AuthenticationError, momentoErrorCode(err), "%v", err)

	// The root key of another emulator is refused.
	other := startServer(t, momentolocal.Config{})
	otherCP, err := other.CredentialProvider()
	require.NoError(t, err)
	otherCP, err = otherCP.WithEndpoints(srv.Endpoints())
	require.NoError(t, err)
	_, err = vend(t, newAuthClient(t, otherCP), scope, utils.ExpiresInMinutes(1), "wrong")
	assert.Equal(t, momento.AuthenticationError, momentoErrorCode(err), "%v", err)

	// A disposable token cannot vend tokens: it is authenticated, but
	// lacks the permission (as Momento answers).
	tok, err := vend(t, newAuthClient(t, cp), scope, utils.ExpiresInMinutes(1), "disposable")
	require.NoError(t, err)
	dcp, err := srv.CredentialProviderFor(tok.ApiKey)
	require.NoError(t, err)
	_, err = vend(t, newAuthClient(t, dcp), scope, utils.ExpiresInMinutes(1), "by-disposable")
	assert.Equal(t, momento.PermissionError, momentoErrorCode(err), "%v", err)

	// The v2-shaped root key is accepted too.
	v2, err := srv.CredentialProviderFor(srv.RootAPIKeyV2())
	require.NoError(t, err)
	_, err = vend(t, newAuthClient(t, v2), scope, utils.ExpiresInMinutes(1), "v2")
	require.NoError(t, err)

	var ids []string
	for _, r := range srv.TokenRequests() {
		ids = append(ids, r.TokenID)
	}
	assert.Equal(t, []string{"ok", "disposable", "v2"}, ids)
}

func TestRootAPIKeyParsesWithStringProvider(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	p, err := auth.NewStringMomentoTokenProvider(srv.RootAPIKey())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:443", p.GetCacheEndpoint())
	assert.Equal(t, "127.0.0.1:443", p.GetControlEndpoint())
	assert.Equal(t, srv.RootAPIKey(), p.GetAuthToken())
	p, err = p.WithEndpoints(srv.Endpoints())
	require.NoError(t, err)
	assert.Equal(t, srv.Addr(), p.GetTokenEndpoint())
	assert.False(t, p.IsTokenEndpointSecure())
}

func TestTokenRequestsKeepsNewest(t *testing.T) {
	tests := []struct {
		name  string
		max   int
		vends int
		want  []string
	}{
		{name: "under the cap", max: 3, vends: 2, want: []string{"t0", "t1"}},
		{name: "at the cap", max: 3, vends: 3, want: []string{"t0", "t1", "t2"}},
		{name: "past the cap, wrapped twice", max: 3, vends: 8, want: []string{"t5", "t6", "t7"}},
		{name: "cap of one", max: 1, vends: 4, want: []string{"t3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, momentolocal.Config{MaxTokenRequests: tt.max})
			cp, err := srv.CredentialProvider()
			require.NoError(t, err)
			ac := newAuthClient(t, cp)
			for i := range tt.vends {
				_, err := vend(t, ac, momento.TopicSubscribeOnly(momento.AllCaches{}, momento.AllTopics{}),
					utils.ExpiresInSeconds(60), fmt.Sprintf("t%d", i))
				require.NoError(t, err)
			}
			var got []string
			for _, r := range srv.TokenRequests() {
				got = append(got, r.TokenID)
				assert.Equal(t, []momentolocal.Permission{{Role: "subscribeonly", Cache: "*", Topic: "*"}}, r.Permissions)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMaxTokenRequestsDefault(t *testing.T) {
	for _, v := range []int{0, -5} {
		srv := startServer(t, momentolocal.Config{MaxTokenRequests: v})
		assert.Equal(t, momentolocal.DefaultMaxTokenRequests, srv.Config().MaxTokenRequests)
	}
}
