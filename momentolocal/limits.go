package momentolocal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Momento's limits that the emulator enforces (docs: platform/limits/auth,
// topics/limits, and the cache limits ListCaches reports).
const (
	// MaxTokenValidity is the longest lifetime Momento accepts for a
	// disposable token (25 hours, a hard limit); GenerateDisposableToken
	// refuses longer ones with INVALID_ARGUMENT. client-sdk-go v1.38.0
	// refuses more than one hour before sending; the JS SDKs send longer
	// expiries.
	MaxTokenValidity = 25 * time.Hour

	// MaxTokenIDLength is the longest token id GenerateDisposableToken
	// accepts, counted as the JS SDKs count it: in UTF-16 code units
	// (JavaScript string length), so 64 "é" (128 bytes of UTF-8) pass and
	// 33 emoji do not.
	MaxTokenIDLength = 64

	// maxTokenPermissions is how many permission statements a disposable
	// token may have (20, a hard limit).
	maxTokenPermissions = 20

	// maxItemTTL is the longest TTL of a cache item (24 hours; ListCaches
	// reports max_ttl_seconds 86400).
	maxItemTTL = 24 * time.Hour

	// maxItemSize is the largest cache item, key and value together, in
	// bytes: 5 MB (ListCaches reports max_item_size_kb 4883, rounded up).
	maxItemSize = 5_000_000

	// maxRequestSize is the largest request message Momento takes (5 MiB,
	// what client-sdk-go v1.38.0 sends at most); larger ones answer
	// RESOURCE_EXHAUSTED with "err: request_size_limit_exceeded".
	maxRequestSize = 5 << 20

	// maxWireMessage is how large a message the transports read, so that
	// requests up to it get Momento's answer rather than the transport's
	// (the Node SDK sends up to about 10 MiB).
	maxWireMessage = 16 << 20

	// maxTopicPayload is the largest topic message payload in bytes (4 KB,
	// a hard limit).
	maxTopicPayload = 4096
)

// Values of the "err" metadata that the SDKs read on RESOURCE_EXHAUSTED
// (client-sdk-go internal/momentoerrors/scs_errors.go, JS core
// src/errors/errors.ts).
const (
	causeOperationsRate = "operations_rate_limit_exceeded"
	causeRequestSize    = "request_size_limit_exceeded"
	causeItemSize       = "item_size_limit_exceeded"
)

// causeError is a gRPC status that also carries the "err" trailer metadata
// Momento uses to say which limit was exceeded.
type causeError struct {
	st    *status.Status
	cause string
}

func (e *causeError) Error() string { return e.st.Err().Error() }

// GRPCStatus lets status.FromError and status.Code see the status.
func (e *causeError) GRPCStatus() *status.Status { return e.st }

// limitExceeded returns a RESOURCE_EXHAUSTED error with "err: cause". The
// message must contain the words the JS SDKs match to describe the limit
// ("operations", "request limit", "item size"): their LimitExceededError
// picks its description from the message.
func limitExceeded(cause, format string, args ...any) error {
	return &causeError{st: status.New(codes.ResourceExhausted, fmt.Sprintf(format, args...)), cause: cause}
}

// errCause returns the "err" metadata value of err, or "".
func errCause(err error) string {
	var ce *causeError
	if errors.As(err, &ce) {
		return ce.cause
	}
	return ""
}

// setErrTrailer sets the "err" trailer of a native gRPC call that fails
// with err. On gRPC-Web calls it does nothing (serveHTTP writes it).
func setErrTrailer(ctx context.Context, err error) {
	if c := errCause(err); c != "" {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("err", c))
	}
}

// checkRequestSize refuses a request message over Momento's request size
// limit.
func checkRequestSize(size int) error {
	if size > maxRequestSize {
		return limitExceeded(causeRequestSize,
			"request size of %d bytes exceeds the request limit of %d bytes", size, maxRequestSize)
	}
	return nil
}

// checkItemSize refuses a cache item over Momento's item size limit.
func checkItemSize(key, value []byte) error {
	if n := len(key) + len(value); n > maxItemSize {
		return limitExceeded(causeItemSize,
			"item size of %d bytes (key and value) exceeds the limit of %d bytes", n, maxItemSize)
	}
	return nil
}
