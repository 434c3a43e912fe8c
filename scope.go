package tvm

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Role is the kind of access a Permission gives. Topic roles and cache roles
// are distinct; a Permission's role decides whether it is a topic permission
// or a cache permission.
type Role string

// Topic roles.
const (
	// PublishSubscribe lets the token publish and subscribe to topics.
	PublishSubscribe Role = "publishsubscribe"
	// SubscribeOnly lets the token subscribe to topics, not publish.
	SubscribeOnly Role = "subscribeonly"
	// PublishOnly lets the token publish to topics, not subscribe.
	PublishOnly Role = "publishonly"
)

// Cache roles.
const (
	// ReadWrite lets the token read and write cache items.
	ReadWrite Role = "readwrite"
	// ReadOnly lets the token read cache items.
	ReadOnly Role = "readonly"
	// WriteOnly lets the token write cache items.
	WriteOnly Role = "writeonly"
)

// All is the wildcard for Permission.Cache and Permission.Topic: every cache
// or every topic.
const All = "*"

// Permission is one Momento permission: a topic permission when Role is a
// topic role, a cache permission when it is a cache role. Cache is a cache
// name or All. For topic permissions exactly one of Topic (a name or All) and
// TopicPrefix is set; for cache permissions at most one of Key and KeyPrefix
// is set (none means all items).
//
// Any string field may be a template such as "user-{sub}" or "{sub}/",
// filled only from the verified identity's claims (see Scope.Expand).
type Permission struct {
	Role        Role   `json:"role" yaml:"role"`
	Cache       string `json:"cache" yaml:"cache"`
	Topic       string `json:"topic,omitempty" yaml:"topic,omitempty"`
	TopicPrefix string `json:"topicPrefix,omitempty" yaml:"topicPrefix,omitempty"`
	Key         string `json:"key,omitempty" yaml:"key,omitempty"`
	KeyPrefix   string `json:"keyPrefix,omitempty" yaml:"keyPrefix,omitempty"`
}

// Scope is the list of permissions a vended token carries, in order: 1 to
// MaxPermissions of them.
//
// A Scope decodes strictly from JSON and YAML (see Scope.UnmarshalJSON),
// either as a list of permissions or as {"permissions": [...]}.
type Scope []Permission

// isTopic reports whether r is one of the topic roles.
func (r Role) isTopic() bool {
	return r == PublishSubscribe || r == SubscribeOnly || r == PublishOnly
}

// isCache reports whether r is one of the cache roles.
func (r Role) isCache() bool {
	return r == ReadWrite || r == ReadOnly || r == WriteOnly
}

// ScopeError reports one problem in a Scope or Permission, naming the
// offending permission and field. It wraps ErrInvalidScope.
type ScopeError struct {
	// Index is the position of the offending permission in the Scope, or
	// -1 when the problem is not in one permission (an empty scope).
	Index int
	// Field is the JSON name of the offending field ("role", "cache",
	// "topic", "topicPrefix", "key", "keyPrefix"), or "" for the whole
	// permission or scope.
	Field string
	// Problem says what is wrong. It never repeats the offending value.
	Problem string
}

// Error returns a message such as
// "tvm: invalid scope: permissions[1].topic: contains whitespace".
func (e *ScopeError) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalidScope.Error())
	b.WriteString(": ")
	if e.Index >= 0 {
		b.WriteString("permissions[")
		b.WriteString(strconv.Itoa(e.Index))
		b.WriteString("]")
		if e.Field != "" {
			b.WriteString(".")
		}
	}
	if e.Field != "" {
		b.WriteString(e.Field)
	}
	if e.Index >= 0 || e.Field != "" {
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// Unwrap returns ErrInvalidScope.
func (e *ScopeError) Unwrap() error { return ErrInvalidScope }

// Validate reports whether the scope can be vended: it holds 1 to 20
// permissions (Momento's limit per token) and every permission is a
// complete, well-formed one:
//
//   - Role is one of the six role constants;
//   - Cache is All ("*") or a valid name;
//   - a topic permission sets exactly one of Topic (All or a valid name) and
//     TopicPrefix (a valid name), and neither Key nor KeyPrefix;
//   - a cache permission sets at most one of Key and KeyPrefix (valid names;
//     none means all items), and neither Topic nor TopicPrefix.
//
// A valid name is 1 to MaxNameLength bytes of UTF-8 with no whitespace, no
// control or invisible formatting characters, and none of "*" (the
// wildcard is only ever the whole value "*", for Cache and Topic), "{" and
// "}" (an unexpanded template). Momento itself only documents that names
// must not be blank; tvm is stricter so that a name can never be confused
// with a wildcard, a prefix or a template, or smuggle control characters
// into logs.
//
// A scope that still holds template placeholders such as "{sub}" is
// invalid; resolvers expand it first (Scope.Expand). The error wraps
// ErrInvalidScope and is a *ScopeError naming the first offending
// permission and field.
func (s Scope) Validate() error {
	return s.validate(false)
}

// validateTemplate is like Validate but accepts template placeholders such
// as "{sub}" or "{custom:tenant}" in names (see Scope.Expand): it checks the
// placeholder syntax and the literal text around placeholders. Resolvers
// call it at construction; the expanded scope is checked with Validate.
func (s Scope) validateTemplate() error {
	return s.validate(true)
}

func (s Scope) validate(template bool) error {
	if len(s) == 0 {
		return &ScopeError{Index: -1, Problem: "no permissions (an empty scope is never vended)"}
	}
	if len(s) > MaxPermissions {
		return &ScopeError{Index: -1, Problem: fmt.Sprintf("%d permissions (Momento accepts at most %d per token)", len(s), MaxPermissions)}
	}
	for i, p := range s {
		if err := p.validate(i, template); err != nil {
			return err
		}
	}
	return nil
}

func (p Permission) validate(idx int, template bool) error {
	fail := func(field, problem string) error {
		return &ScopeError{Index: idx, Field: field, Problem: problem}
	}
	check := func(field, value string, wildcardOK bool) error {
		if value == All {
			if wildcardOK {
				return nil
			}
			return fail(field, `"*" is not allowed here (the wildcard is only for cache and topic)`)
		}
		var problem string
		if template {
			problem = templateProblem(value, field == "topicPrefix" || field == "keyPrefix")
		} else {
			problem = nameProblem(value)
		}
		if problem != "" {
			return fail(field, problem)
		}
		return nil
	}
	switch {
	case p.Role == "":
		return fail("role", "missing")
	case p.Role.isTopic():
		if p.Key != "" {
			return fail("key", "not allowed on a topic permission")
		}
		if p.KeyPrefix != "" {
			return fail("keyPrefix", "not allowed on a topic permission")
		}
		if err := check("cache", p.Cache, true); err != nil {
			return err
		}
		switch {
		case p.Topic != "" && p.TopicPrefix != "":
			return fail("topicPrefix", "set together with topic (set exactly one)")
		case p.Topic != "":
			return check("topic", p.Topic, true)
		case p.TopicPrefix != "":
			return check("topicPrefix", p.TopicPrefix, false)
		default:
			return fail("topic", `missing (set topic to a name or "*", or set topicPrefix)`)
		}
	case p.Role.isCache():
		if p.Topic != "" {
			return fail("topic", "not allowed on a cache permission")
		}
		if p.TopicPrefix != "" {
			return fail("topicPrefix", "not allowed on a cache permission")
		}
		if err := check("cache", p.Cache, true); err != nil {
			return err
		}
		switch {
		case p.Key != "" && p.KeyPrefix != "":
			return fail("keyPrefix", "set together with key (set at most one)")
		case p.Key != "":
			return check("key", p.Key, false)
		case p.KeyPrefix != "":
			return check("keyPrefix", p.KeyPrefix, false)
		}
		return nil
	default:
		return fail("role", "unknown role (want publishsubscribe, subscribeonly, publishonly, readwrite, readonly or writeonly)")
	}
}

// nameProblem returns why s is not a valid name, or "".
func nameProblem(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > MaxNameLength {
		return "longer than " + strconv.Itoa(MaxNameLength) + " bytes"
	}
	return charsProblem(s)
}

// charsProblem returns why s holds a character no name may hold, or "".
func charsProblem(s string) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for _, r := range s {
		if problem := runeProblem(r); problem != "" {
			return problem
		}
	}
	return ""
}

func runeProblem(r rune) string {
	switch {
	case r == '*':
		return `contains "*" (only the whole value "*" is a wildcard)`
	case r == '{' || r == '}':
		return `contains "{" or "}" (an unexpanded template?)`
	case unicode.IsControl(r):
		return "contains a control character"
	case unicode.IsSpace(r) || unicode.Is(unicode.Zs, r):
		return "contains whitespace"
	case unicode.Is(unicode.Cf, r):
		return "contains an invisible formatting character"
	}
	return ""
}

// String returns a compact, single-line summary of the scope for logs, for
// example "topic:publishsubscribe(default-cache/*) cache:readonly(default-cache/user-42/*)".
// Topic and key prefixes end in "*"; a cache permission on all items shows
// only the cache. Values that hold unusual characters are quoted, so the
// summary is always one printable line.
func (s Scope) String() string {
	if len(s) == 0 {
		return "(empty)"
	}
	var b strings.Builder
	for i, p := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		p.writeSummary(&b)
	}
	return b.String()
}

func (p Permission) writeSummary(b *strings.Builder) {
	switch {
	case p.Role.isTopic():
		b.WriteString("topic:")
	case p.Role.isCache():
		b.WriteString("cache:")
	}
	b.WriteString(summaryValue(string(p.Role)))
	b.WriteByte('(')
	b.WriteString(summaryValue(p.Cache))
	switch {
	case p.Role.isTopic() || p.Topic != "" || p.TopicPrefix != "":
		b.WriteByte('/')
		if p.TopicPrefix != "" {
			b.WriteString(summaryValue(p.TopicPrefix) + "*")
		} else {
			b.WriteString(summaryValue(p.Topic))
		}
	case p.Key != "":
		b.WriteByte('/')
		b.WriteString(summaryValue(p.Key))
	case p.KeyPrefix != "":
		b.WriteByte('/')
		b.WriteString(summaryValue(p.KeyPrefix) + "*")
	}
	b.WriteByte(')')
}

// summaryValue returns v as is when it is short and plainly printable,
// and quoted (and truncated) otherwise.
func summaryValue(v string) string {
	const maxLen = 64
	plain := v != "" && utf8.ValidString(v)
	if plain {
		for _, r := range v {
			if r == '(' || r == ')' || r == '"' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
				plain = false
				break
			}
		}
	}
	if len(v) > maxLen {
		return strconv.QuoteToASCII(v[:maxLen]) + "..."
	}
	if plain {
		return v
	}
	return strconv.QuoteToASCII(v)
}
