package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/jwtauth"
	"github.com/tvmgo/tvm/momentolocal"
)

// tokenSetup is what the token route is built from.
type tokenSetup struct {
	opts     options
	idp      *demoIdP             // nil with a real Cognito pool
	emulator *momentolocal.Server // nil with real Momento
	logger   *slog.Logger
}

// newTokenHandler builds the tvm handler mounted at /api/momento/token:
//
//   - authentication: the demo identity provider's ID tokens, verified by
//     tvm's JWT authenticator against its JWKS URL; or a real Cognito pool;
//   - scopes: ReadWriteUserGroup may publish and subscribe, ReadOnlyUserGroup
//     may only subscribe, to the rooms (topics) of the chat cache; anyone
//     else gets 403. The page asks for one room with ?topic=, and the token
//     covers only that room;
//   - vendor: the embedded emulator, or real Momento with MOMENTO_API_KEY.
//
// The returned function releases the authenticator's and vendor's
// background work.
func newTokenHandler(ctx context.Context, s tokenSetup) (http.Handler, func() error, error) {
	var authn tvm.Authenticator
	var closers []func() error
	closeAll := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	if s.idp != nil {
		a, err := jwtauth.New(jwtauth.Config{
			Issuers: []jwtauth.Issuer{{
				Issuer:       s.idp.Issuer(),
				Audience:     []string{demoAudience},
				Algorithms:   []string{"ES256"},
				JWKSURL:      s.idp.JWKSURL(),
				GroupsClaims: []string{"cognito:groups"},
			}},
			Context: ctx,
			Logger:  s.logger,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("JWT authenticator: %w", err)
		}
		authn = a
		closers = append(closers, a.Close)
	} else {
		a, err := jwtauth.New(jwtauth.Config{
			Issuers: []jwtauth.Issuer{{
				Cognito: &jwtauth.Cognito{
					Region:     s.opts.Cognito.Region,
					UserPoolID: s.opts.Cognito.UserPoolID,
					ClientID:   s.opts.Cognito.ClientID,
					TokenUse:   jwtauth.CognitoIDToken,
				},
				// The token id, which other users see as the sender, is the
				// user name rather than the pool's opaque "sub".
				SubjectClaim: "cognito:username",
			}},
			Context: ctx,
			Logger:  s.logger,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("cognito authenticator: %w", err)
		}
		authn = a
		closers = append(closers, a.Close)
	}

	vc := tvm.MomentoVendorConfig{APIKey: s.opts.MomentoAPIKey}
	if s.emulator != nil {
		cp, err := s.emulator.CredentialProvider()
		if err != nil {
			_ = closeAll()
			return nil, nil, fmt.Errorf("emulator credentials: %w", err)
		}
		vc = tvm.MomentoVendorConfig{CredentialProvider: cp}
	}
	vendor, err := tvm.NewMomentoVendor(vc)
	if err != nil {
		_ = closeAll()
		return nil, nil, fmt.Errorf("momento vendor: %w", err)
	}
	closers = append(closers, vendor.Close)
	scopes, err := roomScopes(s.opts.Cache)
	if err != nil {
		_ = closeAll()
		return nil, nil, fmt.Errorf("scopes: %w", err)
	}

	h, err := tvm.NewHandler(tvm.Config{
		Authenticator: authn,
		Scopes:        scopes,
		Vendor:        vendor,
		TTL:           s.opts.TokenTTL,
		Logger:        s.logger.With("component", "tvm"),
	})
	if err != nil {
		_ = closeAll()
		return nil, nil, fmt.Errorf("token handler: %w", err)
	}
	return h, closeAll, nil
}
