package jwtauth

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// errTooLarge is the cause of a refused, oversized response (discovery
// document or key set).
var errTooLarge = errors.New("response body larger than the limit")

// boundedClient returns a copy of c (nil: a client of our own) whose
// Timeout is at most timeout and whose transport refuses response bodies
// longer than maxBytes. c is never modified. owned is the transport made
// here when c is nil, whose idle connections the caller closes when done.
func boundedClient(c *http.Client, timeout time.Duration, maxBytes int64) (client *http.Client, owned *http.Transport) {
	client = &http.Client{}
	if c != nil {
		*client = *c
	}
	base := client.Transport
	if base == nil {
		if c == nil {
			owned = http.DefaultTransport.(*http.Transport).Clone()
			base = owned
		} else {
			base = http.DefaultTransport
		}
	}
	client.Transport = &limitTransport{base: base, max: maxBytes}
	if client.Timeout == 0 || client.Timeout > timeout {
		client.Timeout = timeout
	}
	return client, owned
}

// limitTransport refuses response bodies longer than max bytes: at once
// when Content-Length says so, otherwise when the reader goes past the
// limit.
type limitTransport struct {
	base http.RoundTripper
	max  int64
}

// RoundTrip sends the request and bounds the response body.
func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w (Content-Length %d > %d)", errTooLarge, resp.ContentLength, t.max)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of the base transport.
func (t *limitTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// limitedBody reads at most left bytes, then fails with errTooLarge.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	err  error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	n = int(b.left)
	b.left = 0
	b.err = errTooLarge
	return n, b.err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
