package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
	"github.com/momentohq/client-sdk-go/auth"
	"github.com/momentohq/client-sdk-go/config"
	"github.com/momentohq/client-sdk-go/config/logger"
	"github.com/momentohq/client-sdk-go/momento"

	"github.com/tvmgo/tvm"
)

// lambdaHandler serves API Gateway proxy events through an http.Handler
// with aws-lambda-go-api-proxy: REST API (payload v1) and HTTP API
// (payload v2, or v1 when the integration asks for it) alike. The adapter
// puts the event's request context in the request's context, where the
// apigateway authenticator finds the authorizer's claims.
type lambdaHandler struct {
	v1 *httpadapter.HandlerAdapter
	v2 *httpadapter.HandlerAdapterV2
}

func newLambdaHandler(h http.Handler) *lambdaHandler {
	return &lambdaHandler{v1: httpadapter.New(h), v2: httpadapter.NewV2(h)}
}

// errUnsupportedEvent is returned for payloads that are not API Gateway
// proxy events.
var errUnsupportedEvent = errors.New("not an API Gateway proxy event (payload format 1.0 or 2.0)")

// eventProbe holds the fields that tell the payload versions apart.
type eventProbe struct {
	Version    string  `json:"version"`
	HTTPMethod *string `json:"httpMethod"`
	RawPath    *string `json:"rawPath"`
}

// Invoke handles one Lambda invocation: it detects the payload version,
// decodes the event and returns the matching response type.
func (l *lambdaHandler) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	var p eventProbe
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", errUnsupportedEvent, err)
	}
	switch {
	case p.Version == "2.0" && p.RawPath != nil:
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("decoding an API Gateway v2 event: %w", err)
		}
		return l.v2.ProxyWithContext(ctx, ev)
	case (p.Version == "" || p.Version == "1.0") && p.HTTPMethod != nil:
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("decoding an API Gateway v1 event: %w", err)
		}
		return l.v1.ProxyWithContext(ctx, ev)
	}
	return nil, errUnsupportedEvent
}

// lambdaMux routes the token path only: health and metrics endpoints make
// no sense behind API Gateway, and must not be exposed through it.
func lambdaMux(cfg *Config, token http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(cfg.Path, token)
	mux.HandleFunc("/", notFound)
	return mux
}

// serveLambda runs the Lambda runtime loop (it returns only on error).
func serveLambda(ctx context.Context, cfg *Config, env environment, log *slog.Logger) error {
	if cfg.demo {
		return errors.New("TVM_CONFIG is required in AWS Lambda (the built-in demo configuration uses the local emulator)")
	}
	if cfg.Momento.Local {
		return configErrors{{key: "momento.local", msg: "not available in AWS Lambda"}}
	}
	key, err := env.momentoAPIKey(ctx, &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	if key == "" {
		return errors.New("no Momento API key: set MOMENTO_API_KEY_SECRET_ID (Secrets Manager), MOMENTO_API_KEY_PARAMETER (SSM), MOMENTO_API_KEY or MOMENTO_API_KEY_FILE")
	}
	vendor, err := momentoVendor(cfg, env, key, log)
	if err != nil {
		return err
	}
	cache, err := rateLimitCacheClient(cfg, vendor.CredentialProvider(), config.LambdaLatestWithLogger(logger.NewNoopMomentoLoggerFactory()))
	if err != nil {
		return err
	}
	if cache != nil {
		defer cache.Close()
	}
	svc, err := buildTokenService(context.WithoutCancel(ctx), cfg, vendor, cache, nil, log)
	if err != nil {
		return err
	}
	log.Info("tvm serving API Gateway events", "auth", cfg.Auth.Method, "path", cfg.Path, "momento", vendor.String())
	lh := newLambdaHandler(lambdaMux(cfg, svc.handler))
	lambda.StartWithOptions(lh.Invoke, lambda.WithContext(ctx))
	return nil
}

// momentoVendor returns the SDK vendor for a Momento API key and, for a
// v2 key, the regional endpoint of MOMENTO_ENDPOINT or momento.endpoint.
// Errors never contain the key.
func momentoVendor(cfg *Config, env environment, key secret, log *slog.Logger) (*tvm.MomentoVendor, error) {
	endpoint, err := env.momentoEndpoint(cfg)
	if err != nil {
		return nil, err
	}
	return buildVendor(cfg, nil, key, endpoint, log)
}

// sharedCounters reports whether cfg keeps counters in Momento Cache
// (rateLimit.shared or vendLimit.shared).
func sharedCounters(cfg *Config) bool {
	return cfg.RateLimit.shared() != nil || cfg.VendLimit.shared() != nil
}

// rateLimitCacheClient returns the Momento cache client that holds the
// counters of rateLimit.shared and vendLimit.shared, with the vendor's
// credentials and the counter secret derived from them, or nil when
// neither is set. It connects lazily, so that a Momento outage at start
// leaves the limiters to their failure policy instead of stopping the
// process. The caller closes it.
func rateLimitCacheClient(cfg *Config, prov auth.CredentialProvider, sdk config.Configuration) (*counterStore, error) {
	if !sharedCounters(cfg) {
		return nil, nil
	}
	// The client's default item TTL is never used: Increment sets its own.
	c, err := momento.NewCacheClientWithEagerConnectTimeout(sdk, prov, time.Minute, 0)
	if err != nil {
		return nil, fmt.Errorf("creating the Momento cache client for the shared counters: %w", err)
	}
	return &counterStore{CacheClient: c, secret: counterSecret(prov.GetAuthToken())}, nil
}
