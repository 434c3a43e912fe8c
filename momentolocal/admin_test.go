package momentolocal_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tvmgo/tvm/momentolocal"
)

// TestAdminHandlerRefusesLoopbackProxies reproduces issue 12 item 6: a
// reverse proxy or tunnel (nginx, ngrok, cloudflared) running on the same
// host connects from 127.0.0.1, so a peer-address check alone lets anyone
// who can reach the proxy inject faults. The admin handler must refuse what
// came through a proxy, even when the proxy knows the secret.
func TestAdminHandlerRefusesLoopbackProxies(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	admin := httptest.NewServer(srv.AdminHandler()) // on 127.0.0.1
	t.Cleanup(admin.Close)
	target, err := url.Parse(admin.URL)
	require.NoError(t, err)

	// An ordinary loopback reverse proxy, like a tunnel's local agent. It
	// keeps the public Host and adds X-Forwarded-For, as such proxies do.
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(proxy.Close)

	req, err := http.NewRequest(http.MethodPost, proxy.URL+"/faults", nil)
	require.NoError(t, err)
	req.Host = "tunnel.example.com"
	req.Header.Set("Authorization", "Bearer "+srv.AdminSecret())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a request through a loopback proxy must be refused: %s", body)
	assert.NotContains(t, string(body), srv.AdminSecret(), "the secret is never echoed")
	assert.Empty(t, srv.Faults().List())

	// A proxy that rewrites Host to the loopback target is still refused:
	// it forwards X-Forwarded-For.
	rewriting := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target) // Host becomes 127.0.0.1:port
		pr.SetXForwarded()
	}}
	proxy2 := httptest.NewServer(rewriting)
	t.Cleanup(proxy2.Close)
	req, err = http.NewRequest(http.MethodGet, proxy2.URL+"/token-requests", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.AdminSecret())
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)

	// Directly, with the secret, it works.
	req, err = http.NewRequest(http.MethodGet, admin.URL+"/token-requests", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.AdminSecret())
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestAdminHandlerRequiresSecret checks each rule of the admin handler's
// front door on a direct loopback request.
func TestAdminHandlerRequiresSecret(t *testing.T) {
	srv := startServer(t, momentolocal.Config{})
	h := srv.AdminHandler()
	secret := srv.AdminSecret()
	require.GreaterOrEqual(t, len(secret), 32, "a random secret by default")
	other := startServer(t, momentolocal.Config{})
	require.NotEqual(t, secret, other.AdminSecret(), "random per Start")

	tests := []struct {
		name   string
		remote string
		host   string
		header map[string]string
		want   int
	}{
		{name: "secret", header: map[string]string{"Authorization": "Bearer " + secret}, want: 200},
		{name: "secret, lower-case scheme", header: map[string]string{"Authorization": "bearer " + secret}, want: 200},
		{name: "localhost Host", host: "localhost:8080", header: map[string]string{"Authorization": "Bearer " + secret}, want: 200},
		{name: "IPv6 loopback Host", host: "[::1]:8080", header: map[string]string{"Authorization": "Bearer " + secret}, want: 200},
		{name: "no secret", want: 401},
		{name: "wrong secret", header: map[string]string{"Authorization": "Bearer " + other.AdminSecret()}, want: 401},
		{name: "secret prefix", header: map[string]string{"Authorization": "Bearer " + secret[:len(secret)-1]}, want: 401},
		{name: "basic auth", header: map[string]string{"Authorization": "Basic " + secret}, want: 401},
		{name: "not loopback peer", remote: "192.0.2.1:4000", header: map[string]string{"Authorization": "Bearer " + secret}, want: 403},
		{name: "public Host", host: "emulator.example.com", header: map[string]string{"Authorization": "Bearer " + secret}, want: 403},
		{name: "rebinding Host", host: "127.0.0.1.nip.io:9000", header: map[string]string{"Authorization": "Bearer " + secret}, want: 403},
	}
	for _, hdr := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP", "Via",
		"True-Client-IP", "CF-Connecting-IP", "X-Client-IP", "X-Cluster-Client-IP", "Fastly-Client-IP", "X-Original-Forwarded-For"} {
		tests = append(tests, struct {
			name   string
			remote string
			host   string
			header map[string]string
			want   int
		}{name: "forwarding header " + hdr, header: map[string]string{"Authorization": "Bearer " + secret, hdr: "127.0.0.1"}, want: 403})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/faults", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			if tt.remote != "" {
				req.RemoteAddr = tt.remote
			}
			req.Host = "127.0.0.1:8080"
			if tt.host != "" {
				req.Host = tt.host
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tt.want, rec.Code, rec.Body.String())
			assert.NotContains(t, rec.Body.String(), secret)
			if tt.want == 401 {
				assert.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// TestAdminSecretConfig checks that a configured secret is used, kept by
// Config for restarts, and that a short one is refused.
func TestAdminSecretConfig(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	srv := startServer(t, momentolocal.Config{AdminSecret: secret})
	assert.Equal(t, secret, srv.AdminSecret())
	assert.Equal(t, secret, srv.Config().AdminSecret)
	_, err := momentolocal.Start(momentolocal.Config{AdminSecret: "short"})
	require.ErrorIs(t, err, momentolocal.ErrInvalidConfig)
	assert.NotContains(t, err.Error(), "short", "the refused secret is not echoed")
}
