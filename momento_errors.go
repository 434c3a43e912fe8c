package tvm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/momentohq/client-sdk-go/momento"
)

// sdkError is the shape of the SDK's error values (momento.MomentoError and
// its internal service error).
type sdkError interface {
	error
	Code() string
	Message() string
	OriginalErr() error
}

// innermostSDKError unwraps err to the SDK error that carries the real code.
// client-sdk-go v1.38.0's AuthClient.GenerateDisposableToken converts the
// token client's error a second time, so every server error arrives as a
// ClientSdkError whose OriginalErr is the error with the real code
// (PermissionError, ServerUnavailableError, ...).
func innermostSDKError(err error) (sdkError, bool) {
	var se sdkError
	if !errors.As(err, &se) {
		return nil, false
	}
	for range 8 { // the SDK nests twice; bound the walk anyway
		if se.Code() != momento.ClientSdkError {
			break
		}
		var inner sdkError
		if orig := se.OriginalErr(); orig == nil || !errors.As(orig, &inner) {
			break
		}
		se = inner
	}
	return se, true
}

// Momento SDK error codes (momento.*Error constants) by retry semantics.
var (
	rejectedCodes = map[string]bool{
		momento.AuthenticationError:     true,
		momento.PermissionError:         true,
		momento.InvalidArgumentError:    true,
		momento.BadRequestError:         true,
		momento.CacheNotFoundError:      true,
		momento.StoreNotFoundError:      true,
		momento.ItemNotFoundError:       true,
		momento.AlreadyExistsError:      true,
		momento.FailedPreconditionError: true,
	}
	timeoutCodes = map[string]bool{momento.TimeoutError: true}
)

// quotaWindow is the window of Momento's auth quota (5 operations per
// second per account): a throttled vend is worth retrying after it.
const quotaWindow = time.Second

// mapError turns an SDK error into a *VendError whose message carries no
// secret.
func (v *MomentoVendor) mapError(ctx context.Context, err error) error {
	code, msg := "", errorMessage(err)
	if se, ok := innermostSDKError(err); ok {
		code, msg = se.Code(), se.Message()
	}
	msg = sanitize(msg, v.secrets)
	var cause error = errors.New(msg)

	kind, wait := ErrUpstreamUnavailable, time.Duration(0)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		kind, cause = ErrUpstreamTimeout, fmt.Errorf("%w: %s", context.DeadlineExceeded, msg)
	case ctx.Err() != nil:
		cause = fmt.Errorf("%w: %s", ctx.Err(), msg)
	case errors.Is(err, context.DeadlineExceeded), timeoutCodes[code]:
		kind = ErrUpstreamTimeout
	case rejectedCodes[code]:
		kind = ErrUpstreamRejected
	case code == momento.LimitExceededError:
		// RESOURCE_EXHAUSTED from the token service: the auth quota.
		kind, wait = ErrUpstreamThrottled, quotaWindow
	}
	return &VendError{Kind: kind, Code: code, Wait: wait, Err: cause}
}

// errorMessage returns err's message, or "" for a nil error.
func errorMessage(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// jwtLike matches strings shaped like a JWT (Momento API keys are JWTs).
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)

// maxErrorMessage bounds upstream error text kept in errors and logs.
const maxErrorMessage = 300

// sanitize removes the given secrets and anything shaped like a JWT from
// msg, flattens it to one line and bounds its length.
func sanitize(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[REDACTED]")
		}
	}
	msg = jwtLike.ReplaceAllString(msg, "[REDACTED]")
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxErrorMessage {
		cut := maxErrorMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
