package tvm

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// narrowDisabled, as a NarrowOptions parameter name, turns that parameter
// off.
const narrowDisabled = "-"

// NarrowOptions names the query parameters through which a caller may
// narrow its scope (see NewNarrowing). Each parameter carries one exact
// name, never a wildcard or a prefix.
type NarrowOptions struct {
	// CacheParam selects one cache ("?cache=chat"). Default "cache"; "-"
	// turns it off.
	CacheParam string
	// TopicParam selects one topic ("?topic=room-42") and drops cache
	// permissions unless an item is selected too. Default "topic"; "-"
	// turns it off.
	TopicParam string
	// KeyParam, when set, selects one cache key ("?key=user-42/profile")
	// and drops topic permissions unless a topic is selected too. Off by
	// default.
	KeyParam string
	// KeyPrefixParam, when set, selects the cache keys starting with a
	// prefix ("?keyPrefix=user-42/drafts/"), as KeyParam does. Off by
	// default.
	KeyPrefixParam string
}

// withDefaults fills the default parameter names and maps "-" to "".
func (o NarrowOptions) withDefaults() NarrowOptions {
	if o.CacheParam == "" {
		o.CacheParam = "cache"
	}
	if o.TopicParam == "" {
		o.TopicParam = "topic"
	}
	for _, p := range []*string{&o.CacheParam, &o.TopicParam, &o.KeyParam, &o.KeyPrefixParam} {
		if *p == narrowDisabled {
			*p = ""
		}
	}
	return o
}

// validate checks parameter names (after withDefaults), recording every
// problem.
func (o NarrowOptions) validate(probs *problems) {
	seen := map[string]string{}
	for _, f := range []struct{ field, name string }{
		{"CacheParam", o.CacheParam}, {"TopicParam", o.TopicParam},
		{"KeyParam", o.KeyParam}, {"KeyPrefixParam", o.KeyPrefixParam},
	} {
		if f.name == "" {
			continue
		}
		if len(f.name) > 64 || strings.IndexFunc(f.name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
		}) >= 0 {
			probs.add("NarrowOptions."+f.field, "must be 1 to 64 letters, digits, \"_\", \"-\" or \".\"")
			continue
		}
		if other, dup := seen[f.name]; dup {
			probs.add("NarrowOptions."+f.field, "same parameter name as "+other)
		}
		seen[f.name] = f.field
	}
}

// Narrowing is a ScopeResolver that wraps another so that the caller may
// ask, in the query string, for less than its identity allows: one cache, one topic, and
// (when enabled) one key or a key prefix, e.g. GET /token?topic=room-42.
// Headers are never read.
//
// The result is the intersection of each permission inner grants with the
// request, and it is never wider than what inner grants:
//
//   - the cache parameter keeps the permissions on that cache or on all
//     caches, narrowed to that cache;
//   - the topic parameter keeps the topic permissions on all topics, on
//     that topic, or on a topic prefix the topic starts with, narrowed to
//     that topic; the key parameter does the same for cache permissions
//     and keys, and the key prefix parameter narrows cache permissions to
//     the longer of the two prefixes (a permission on one key stays so if
//     the key starts with the prefix);
//   - asking for a topic but no item drops cache permissions, asking for an
//     item but no topic drops topic permissions (the caller asked for
//     neither);
//   - roles are never changed, permissions that do not intersect are
//     dropped, and duplicate results are merged.
//
// Without narrowing parameters the grant is returned unchanged. A narrowing
// parameter that is repeated, empty, "*" or otherwise not a valid name
// (see Permission.Validate), both the key and key prefix parameters, or a
// malformed query string give an error wrapping ErrBadRequest; a request
// that intersects none of the granted permissions gives an error wrapping
// ErrForbidden. Errors of inner are returned unchanged. Grant.TTL,
// TokenID and Rule are kept.
type Narrowing struct {
	inner ScopeResolver
	opts  NarrowOptions
}

// NewNarrowing returns a Narrowing around inner with the query parameters
// of opts. It fails closed with a *ConfigError when inner is nil or a
// parameter name is invalid or used twice, reporting every problem.
func NewNarrowing(inner ScopeResolver, opts NarrowOptions) (*Narrowing, error) {
	var probs problems
	if isNil(inner) {
		probs.add("Narrowing.inner", "required")
	}
	n := &Narrowing{inner: inner, opts: opts.withDefaults()}
	n.opts.validate(&probs)
	if err := probs.err(); err != nil {
		return nil, err
	}
	return n, nil
}

// Options returns the query parameters n reads: the defaults filled in
// ("cache", "topic"), a parameter turned off ("-") or not set as "".
func (n *Narrowing) Options() NarrowOptions { return n.opts }

// Resolve resolves with the inner resolver and narrows the grant to the
// request's query parameters.
func (n *Narrowing) Resolve(ctx context.Context, id Identity, r *http.Request) (Grant, error) {
	req, err := n.parse(r)
	if err != nil {
		return Grant{}, err
	}
	g, err := n.inner.Resolve(ctx, id, r)
	if err != nil || req == (narrowRequest{}) {
		return g, err
	}
	narrowed, err := req.narrowScope(g.Scope)
	if err != nil {
		return Grant{}, err
	}
	g.Scope = narrowed
	return g, nil
}

// narrowRequest is what the caller asked for; "" means not asked.
type narrowRequest struct {
	cache, topic, key, keyPrefix string
}

// parse reads the narrowing parameters from the request's query string.
func (n *Narrowing) parse(r *http.Request) (narrowRequest, error) {
	var req narrowRequest
	if r == nil || r.URL == nil || r.URL.RawQuery == "" {
		return req, nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return req, fmt.Errorf("%w: malformed query string", ErrBadRequest)
	}
	for _, f := range []struct {
		param string
		dst   *string
	}{
		{n.opts.CacheParam, &req.cache}, {n.opts.TopicParam, &req.topic},
		{n.opts.KeyParam, &req.key}, {n.opts.KeyPrefixParam, &req.keyPrefix},
	} {
		if f.param == "" {
			continue
		}
		values, ok := q[f.param]
		if !ok {
			continue
		}
		if len(values) != 1 {
			return req, fmt.Errorf("%w: query parameter %q repeated", ErrBadRequest, f.param)
		}
		if problem := nameProblem(values[0]); problem != "" {
			return req, fmt.Errorf("%w: query parameter %q: %s", ErrBadRequest, f.param, problem)
		}
		*f.dst = values[0]
	}
	if req.key != "" && req.keyPrefix != "" {
		return req, fmt.Errorf("%w: query parameters %q and %q are exclusive", ErrBadRequest, n.opts.KeyParam, n.opts.KeyPrefixParam)
	}
	return req, nil
}

// narrowScope intersects every permission of s with the request.
func (q narrowRequest) narrowScope(s Scope) (Scope, error) {
	out := make(Scope, 0, len(s))
	seen := make(map[Permission]bool, len(s))
	for _, p := range s {
		np, ok := q.narrow(p)
		if !ok || seen[np] {
			continue
		}
		seen[np] = true
		out = append(out, np)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the requested cache, topic or key is outside the caller's scope", ErrForbidden)
	}
	if err := out.Validate(); err != nil {
		// Unreachable with a valid inner scope; refuse rather than vend.
		return nil, fmt.Errorf("%w: narrowed scope: %w", ErrForbidden, err)
	}
	return out, nil
}

// narrow returns the intersection of p with the request, and false when
// it is empty.
func (q narrowRequest) narrow(p Permission) (Permission, bool) {
	if q.cache != "" {
		if p.Cache != All && p.Cache != q.cache {
			return Permission{}, false
		}
		p.Cache = q.cache
	}
	wantsTopic := q.topic != ""
	wantsItem := q.key != "" || q.keyPrefix != ""
	switch {
	case p.Role.isTopic():
		if wantsItem && !wantsTopic {
			return Permission{}, false
		}
		if wantsTopic {
			if !(p.Topic == All || p.Topic == q.topic || p.TopicPrefix != "" && strings.HasPrefix(q.topic, p.TopicPrefix)) {
				return Permission{}, false
			}
			p.Topic, p.TopicPrefix = q.topic, ""
		}
		return p, true
	case p.Role.isCache():
		if wantsTopic && !wantsItem {
			return Permission{}, false
		}
		allItems := p.Key == "" && p.KeyPrefix == ""
		switch {
		case q.key != "":
			if !(allItems || p.Key == q.key || p.KeyPrefix != "" && strings.HasPrefix(q.key, p.KeyPrefix)) {
				return Permission{}, false
			}
			p.Key, p.KeyPrefix = q.key, ""
		case q.keyPrefix != "":
			switch {
			case allItems:
				p.KeyPrefix = q.keyPrefix
			case p.Key != "":
				if !strings.HasPrefix(p.Key, q.keyPrefix) {
					return Permission{}, false
				}
			case strings.HasPrefix(q.keyPrefix, p.KeyPrefix):
				p.KeyPrefix = q.keyPrefix
			case strings.HasPrefix(p.KeyPrefix, q.keyPrefix):
				// The granted prefix is already the narrower one.
			default:
				return Permission{}, false
			}
		}
		return p, true
	}
	return Permission{}, false
}
