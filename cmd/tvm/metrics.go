package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tvmgo/tvm"
)

// metrics are the Prometheus metrics of the token endpoint, on a registry
// of their own (plus the Go and process collectors).
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec   // tvm_token_requests_total{outcome}
	inFlight       prometheus.Gauge         // tvm_token_requests_in_flight
	requestLatency prometheus.Histogram     // tvm_token_request_duration_seconds
	vendLatency    *prometheus.HistogramVec // tvm_vend_duration_seconds{result}
	upstreamErrors *prometheus.CounterVec   // tvm_upstream_errors_total{kind}
	tokenSource    *prometheus.CounterVec   // tvm_tokens_served_total{source}
}

// outcomes are the values of the outcome label: "ok", "preflight" (a CORS
// preflight answered 204) and the handler's error codes.
var outcomes = []string{
	"ok", "preflight",
	tvm.CodeBadRequest, tvm.CodeUnauthorized, tvm.CodeForbidden, tvm.CodeMethodNotAllowed,
	tvm.CodeRateLimited, tvm.CodeCanceled, tvm.CodeInternal, tvm.CodeInvalidScope,
	tvm.CodeUpstreamRejected, tvm.CodeUpstreamUnavailable, tvm.CodeUpstreamThrottled, tvm.CodeUpstreamTimeout,
	tvm.CodeOverloaded,
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tvm_token_requests_total",
			Help: "Token requests by outcome: ok, preflight, or the error code of the response (unauthorized, forbidden, rate_limited, upstream_timeout, ...).",
		}, []string{"outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tvm_token_requests_in_flight",
			Help: "Token requests being served.",
		}),
		requestLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tvm_token_request_duration_seconds",
			Help:    "Time to answer a token request, whatever the outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		vendLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tvm_vend_duration_seconds",
			Help:    "Time Momento took to vend a token (GenerateDisposableToken, retries included), by result (ok, error, or canceled when the client went away).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tvm_upstream_errors_total",
			Help: "Failed vends by kind: rejected (502), unavailable (503), throttled (503: Momento's auth quota), timeout (504), other. A vend the vend ceiling (vendLimit) sheds never reaches Momento and is not counted here (tvm_token_requests_total{outcome=\"upstream_throttled\"} counts it).",
		}, []string{"kind"}),
		tokenSource: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tvm_tokens_served_total",
			Help: "Tokens answered by source: vended (a call to Momento for this request), reused (a kept token, see reuse) or coalesced (the result of a concurrent identical request's call).",
		}, []string{"source"}),
	}
	m.reg.MustRegister(m.requests, m.inFlight, m.requestLatency, m.vendLatency, m.upstreamErrors, m.tokenSource,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Export every label value from the start, so dashboards and alerts see
	// zeros rather than missing series.
	for _, o := range outcomes {
		m.requests.WithLabelValues(o)
	}
	for _, k := range []string{"rejected", "unavailable", "throttled", "timeout", "other"} {
		m.upstreamErrors.WithLabelValues(k)
	}
	for _, s := range []string{"vended", "reused", "coalesced"} {
		m.tokenSource.WithLabelValues(s)
	}
	return m
}

// handler serves /metrics.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// middleware tracks the token requests in flight.
func (m *metrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		next.ServeHTTP(w, r)
	})
}

// onResult is the handler's Config.OnResult: it counts requests by outcome
// and observes their latency.
func (m *metrics) onResult(_ *http.Request, res tvm.Result) {
	o := res.Code
	if res.Status == http.StatusNoContent {
		o = "preflight"
	}
	if o == "" {
		o = tvm.CodeInternal
	}
	m.requests.WithLabelValues(o).Inc()
	m.requestLatency.Observe(res.Latency.Seconds())
	if res.Status == http.StatusOK && res.Source != "" {
		m.tokenSource.WithLabelValues(res.Source).Inc()
	}
}

// vendor wraps v to observe vend latency and upstream errors.
func (m *metrics) vendor(v tvm.Vendor) tvm.Vendor {
	return &observedVendor{Vendor: v, m: m}
}

type observedVendor struct {
	tvm.Vendor
	m *metrics
}

func (o *observedVendor) Vend(ctx context.Context, g tvm.Grant) (tvm.Token, error) {
	start := time.Now()
	tok, err := o.Vendor.Vend(ctx, g)
	result := "ok"
	switch {
	case err == nil:
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled):
		result = "canceled" // the client went away: not an upstream failure
	default:
		result = "error"
		o.m.upstreamErrors.WithLabelValues(upstreamKind(err)).Inc()
	}
	o.m.vendLatency.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return tok, err
}

func upstreamKind(err error) string {
	switch {
	case errors.Is(err, tvm.ErrUpstreamRejected):
		return "rejected"
	case errors.Is(err, tvm.ErrUpstreamThrottled):
		return "throttled"
	case errors.Is(err, tvm.ErrUpstreamTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, tvm.ErrUpstreamUnavailable):
		return "unavailable"
	default:
		return "other"
	}
}
