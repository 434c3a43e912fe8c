package tvm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
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

// AllCaches selects every cache.
const AllCaches = All

// TopicSelector selects the topics a topic permission covers: all topics,
// one topic by name, or every topic whose name starts with a prefix.
type TopicSelector struct {
	name, prefix string
	all          bool
}

// AllTopics selects every topic.
var AllTopics = TopicSelector{all: true}

// Topic selects one topic by name.
func Topic(name string) TopicSelector { return TopicSelector{name: name} }

// TopicNamePrefix selects every topic whose name starts with prefix.
func TopicNamePrefix(prefix string) TopicSelector { return TopicSelector{prefix: prefix} }

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

// Scope is the set of permissions a vended token carries.
type Scope struct {
	Permissions []Permission `json:"permissions" yaml:"permissions"`
}

// NewScope returns a scope with the given permissions.
func NewScope(perms ...Permission) Scope { return Scope{Permissions: perms} }

func topicPermission(role Role, cache string, topic TopicSelector) Permission {
	p := Permission{Role: role, Cache: cache}
	switch {
	case topic.all:
		p.Topic = All
	case topic.prefix != "":
		p.TopicPrefix = topic.prefix
	default:
		p.Topic = topic.name
	}
	return p
}

// TopicPublishSubscribe permits publishing and subscribing to the selected
// topics of cache (a name or AllCaches).
func TopicPublishSubscribe(cache string, topic TopicSelector) Permission {
	return topicPermission(PublishSubscribe, cache, topic)
}

// TopicSubscribeOnly permits subscribing to the selected topics of cache.
func TopicSubscribeOnly(cache string, topic TopicSelector) Permission {
	return topicPermission(SubscribeOnly, cache, topic)
}

// TopicPublishOnly permits publishing to the selected topics of cache.
func TopicPublishOnly(cache string, topic TopicSelector) Permission {
	return topicPermission(PublishOnly, cache, topic)
}

// CacheReadWrite permits reading and writing every item of cache.
func CacheReadWrite(cache string) Permission { return Permission{Role: ReadWrite, Cache: cache} }

// CacheReadOnly permits reading every item of cache.
func CacheReadOnly(cache string) Permission { return Permission{Role: ReadOnly, Cache: cache} }

// CacheWriteOnly permits writing every item of cache.
func CacheWriteOnly(cache string) Permission { return Permission{Role: WriteOnly, Cache: cache} }

// CacheKeyReadWrite permits reading and writing one key of cache.
func CacheKeyReadWrite(cache, key string) Permission {
	return Permission{Role: ReadWrite, Cache: cache, Key: key}
}

// CacheKeyReadOnly permits reading one key of cache.
func CacheKeyReadOnly(cache, key string) Permission {
	return Permission{Role: ReadOnly, Cache: cache, Key: key}
}

// CacheKeyWriteOnly permits writing one key of cache.
func CacheKeyWriteOnly(cache, key string) Permission {
	return Permission{Role: WriteOnly, Cache: cache, Key: key}
}

// CacheKeyPrefixReadWrite permits reading and writing the keys of cache that
// start with prefix.
func CacheKeyPrefixReadWrite(cache, prefix string) Permission {
	return Permission{Role: ReadWrite, Cache: cache, KeyPrefix: prefix}
}

// CacheKeyPrefixReadOnly permits reading the keys of cache that start with
// prefix.
func CacheKeyPrefixReadOnly(cache, prefix string) Permission {
	return Permission{Role: ReadOnly, Cache: cache, KeyPrefix: prefix}
}

// CacheKeyPrefixWriteOnly permits writing the keys of cache that start with
// prefix.
func CacheKeyPrefixWriteOnly(cache, prefix string) Permission {
	return Permission{Role: WriteOnly, Cache: cache, KeyPrefix: prefix}
}

// IsTopicRole reports whether r is one of the topic roles.
func (r Role) IsTopicRole() bool {
	return r == PublishSubscribe || r == SubscribeOnly || r == PublishOnly
}

// IsCacheRole reports whether r is one of the cache roles.
func (r Role) IsCacheRole() bool {
	return r == ReadWrite || r == ReadOnly || r == WriteOnly
}

// MaxNameLength is the longest cache name, topic name, topic prefix, key or
// key prefix tvm accepts, in bytes. Momento does not publish a limit for
// names; this bound keeps tokens, logs and error messages small.
const MaxNameLength = 255

// ScopeError reports one problem in a Scope or Permission, naming the
// offending permission and field. It wraps ErrInvalidScope.
type ScopeError struct {
	// Index is the position of the offending permission in
	// Scope.Permissions, or -1 when the problem is not in one permission
	// (an empty scope) or when a lone Permission was validated.
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

// Validate reports whether the scope can be vended: it holds at least one
// permission and every permission is valid (see Permission.Validate). A
// scope that still holds template placeholders such as "{sub}" is invalid;
// expand it first (Scope.Expand). The error wraps ErrInvalidScope and is a
// *ScopeError naming the first offending permission and field.
func (s Scope) Validate() error {
	return s.validate(false)
}

// ValidateTemplate is like Validate but accepts template placeholders such
// as "{sub}" or "{custom:tenant}" in names (see Scope.Expand): it checks the
// placeholder syntax and the literal text around placeholders. Resolvers
// call it at construction; the expanded scope is checked with Validate.
func (s Scope) ValidateTemplate() error {
	return s.validate(true)
}

func (s Scope) validate(template bool) error {
	if len(s.Permissions) == 0 {
		return &ScopeError{Index: -1, Problem: "no permissions (an empty scope is never vended)"}
	}
	for i, p := range s.Permissions {
		if err := p.validate(i, template); err != nil {
			return err
		}
	}
	return nil
}

// Validate reports whether p is a complete, well-formed permission:
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
// The error wraps ErrInvalidScope and is a *ScopeError.
func (p Permission) Validate() error {
	return p.validate(-1, false)
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
	case p.Role.IsTopicRole():
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
	case p.Role.IsCacheRole():
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
	if len(s.Permissions) == 0 {
		return "(empty)"
	}
	var b strings.Builder
	for i, p := range s.Permissions {
		if i > 0 {
			b.WriteByte(' ')
		}
		p.writeSummary(&b)
	}
	return b.String()
}

// String returns a compact summary of the permission, as in Scope.String.
func (p Permission) String() string {
	var b strings.Builder
	p.writeSummary(&b)
	return b.String()
}

func (p Permission) writeSummary(b *strings.Builder) {
	switch {
	case p.Role.IsTopicRole():
		b.WriteString("topic:")
	case p.Role.IsCacheRole():
		b.WriteString("cache:")
	}
	b.WriteString(summaryValue(string(p.Role)))
	b.WriteByte('(')
	b.WriteString(summaryValue(p.Cache))
	switch {
	case p.Role.IsTopicRole() || p.Topic != "" || p.TopicPrefix != "":
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

// ParseRole returns the role named by s. Names are case-insensitive and may
// hold "-" or "_" between words, so "publishsubscribe", "PublishSubscribe",
// "publish-subscribe" and "PUBLISH_SUBSCRIBE" all name PublishSubscribe.
// An unknown name is an error wrapping ErrInvalidScope.
func ParseRole(s string) (Role, error) {
	if len(s) <= 32 {
		norm := strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s))
		switch r := Role(norm); r {
		case PublishSubscribe, SubscribeOnly, PublishOnly, ReadWrite, ReadOnly, WriteOnly:
			return r, nil
		}
	}
	return "", &ScopeError{Index: -1, Field: "role", Problem: "unknown role " + summaryValue(s) +
		" (want publishsubscribe, subscribeonly, publishonly, readwrite, readonly or writeonly)"}
}

// UnmarshalText sets r to the role named by text, as ParseRole does.
func (r *Role) UnmarshalText(text []byte) error {
	parsed, err := ParseRole(string(text))
	if err != nil {
		return err
	}
	*r = parsed
	return nil
}

// permissionField returns a pointer to the field of p named name in JSON
// and YAML, or nil when there is no such field.
func (p *Permission) permissionField(name string) *string {
	switch name {
	case "cache":
		return &p.Cache
	case "topic":
		return &p.Topic
	case "topicPrefix":
		return &p.TopicPrefix
	case "key":
		return &p.Key
	case "keyPrefix":
		return &p.KeyPrefix
	}
	return nil
}

// setField sets the field of p named name (the JSON and YAML name) to
// value, normalising roles; it refuses unknown and duplicate fields.
func (p *Permission) setField(name, value string, seen map[string]bool) error {
	if seen[name] {
		return &ScopeError{Index: -1, Field: summaryValue(name), Problem: "duplicate field"}
	}
	seen[name] = true
	if name == "role" {
		r, err := ParseRole(value)
		if err != nil {
			return err
		}
		p.Role = r
		return nil
	}
	f := p.permissionField(name)
	if f == nil {
		return &ScopeError{Index: -1, Field: summaryValue(name), Problem: "unknown field (want role, cache, topic, topicPrefix, key or keyPrefix)"}
	}
	*f = value
	return nil
}

// UnmarshalJSON decodes a permission such as
//
//	{"role": "publishsubscribe", "cache": "default-cache", "topic": "*"}
//
// strictly: every value must be a JSON string, unknown and duplicate field
// names (matched case-sensitively) and null are refused, and the role is
// normalised as ParseRole does. It does not validate the permission; call
// Scope.Validate or Scope.ValidateTemplate. Errors wrap ErrInvalidScope.
func (p *Permission) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := expectJSONDelim(dec, '{', "a permission must be a JSON object"); err != nil {
		return err
	}
	var out Permission
	seen := make(map[string]bool, 6)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonScopeError(err)
		}
		name, _ := tok.(string)
		tok, err = dec.Token()
		if err != nil {
			return jsonScopeError(err)
		}
		value, ok := tok.(string)
		if !ok {
			return &ScopeError{Index: -1, Field: summaryValue(name), Problem: "must be a JSON string"}
		}
		if err := out.setField(name, value, seen); err != nil {
			return err
		}
	}
	*p = out
	return nil
}

// UnmarshalJSON decodes a scope, either {"permissions": [...]} or the bare
// array of permissions [...], each decoded as Permission.UnmarshalJSON
// does. Unknown and duplicate fields and null are refused. It does not
// validate the scope (an empty scope decodes); call Scope.Validate or
// Scope.ValidateTemplate. Errors wrap ErrInvalidScope.
func (s *Scope) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return jsonScopeError(err)
	}
	var perms []Permission
	switch tok {
	case json.Delim('['):
		if perms, err = decodeJSONPermissions(dec); err != nil {
			return err
		}
	case json.Delim('{'):
		seen := false
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return jsonScopeError(err)
			}
			if name, _ := tok.(string); name != "permissions" {
				return &ScopeError{Index: -1, Field: summaryValue(name), Problem: "unknown field (want permissions)"}
			}
			if seen {
				return &ScopeError{Index: -1, Field: "permissions", Problem: "duplicate field"}
			}
			seen = true
			if err := expectJSONDelim(dec, '[', "permissions must be a JSON array"); err != nil {
				return err
			}
			if perms, err = decodeJSONPermissions(dec); err != nil {
				return err
			}
		}
	default:
		return &ScopeError{Index: -1, Problem: "a scope must be a JSON object or array"}
	}
	s.Permissions = perms
	return nil
}

// decodeJSONPermissions decodes the elements of a JSON array whose "[" has
// been read, and the closing "]".
func decodeJSONPermissions(dec *json.Decoder) ([]Permission, error) {
	perms := []Permission{}
	for i := 0; dec.More(); i++ {
		var p Permission
		if err := dec.Decode(&p); err != nil {
			return nil, indexScopeError(jsonScopeError(err), i)
		}
		perms = append(perms, p)
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonScopeError(err)
	}
	return perms, nil
}

func expectJSONDelim(dec *json.Decoder, want json.Delim, problem string) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonScopeError(err)
	}
	if tok != want {
		return &ScopeError{Index: -1, Problem: problem}
	}
	return nil
}

// jsonScopeError wraps a JSON syntax error into ErrInvalidScope, leaving
// errors that already wrap it alone.
func jsonScopeError(err error) error {
	if errors.Is(err, ErrInvalidScope) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInvalidScope, err)
}

// indexScopeError sets the permission index of a *ScopeError that has none.
func indexScopeError(err error, i int) error {
	var se *ScopeError
	if errors.As(err, &se) && se.Index < 0 {
		c := *se
		c.Index = i
		return &c
	}
	return err
}

// UnmarshalYAML decodes a permission from a YAML mapping such as
//
//	role: publish-subscribe
//	cache: default-cache
//	topic: "*"     # quoted: a bare * starts a YAML alias
//
// with the same strictness as UnmarshalJSON: values must be strings (an
// unquoted integer such as 42 is read as its text), unknown and duplicate
// keys are refused. Anchors and aliases are followed.
func (p *Permission) UnmarshalYAML(node *yaml.Node) error {
	node = resolveYAMLAlias(node)
	if node.Kind != yaml.MappingNode {
		return &ScopeError{Index: -1, Problem: fmt.Sprintf("line %d: a permission must be a YAML mapping", node.Line)}
	}
	var out Permission
	seen := make(map[string]bool, 6)
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := resolveYAMLAlias(node.Content[i]), resolveYAMLAlias(node.Content[i+1])
		name, ok := yamlString(k)
		if !ok {
			return &ScopeError{Index: -1, Problem: fmt.Sprintf("line %d: field names must be strings", k.Line)}
		}
		value, ok := yamlString(v)
		if !ok {
			return &ScopeError{Index: -1, Field: summaryValue(name), Problem: fmt.Sprintf("line %d: must be a string", v.Line)}
		}
		if err := out.setField(name, value, seen); err != nil {
			return err
		}
	}
	*p = out
	return nil
}

// UnmarshalYAML decodes a scope, either a mapping with the one key
// "permissions" or a bare sequence of permissions, each decoded as
// Permission.UnmarshalYAML does. It does not validate the scope.
func (s *Scope) UnmarshalYAML(node *yaml.Node) error {
	node = resolveYAMLAlias(node)
	switch node.Kind {
	case yaml.SequenceNode:
	case yaml.MappingNode:
		var seq *yaml.Node
		for i := 0; i+1 < len(node.Content); i += 2 {
			k := resolveYAMLAlias(node.Content[i])
			if name, _ := yamlString(k); name != "permissions" {
				return &ScopeError{Index: -1, Field: summaryValue(k.Value), Problem: fmt.Sprintf("line %d: unknown field (want permissions)", k.Line)}
			}
			if seq != nil {
				return &ScopeError{Index: -1, Field: "permissions", Problem: fmt.Sprintf("line %d: duplicate field", k.Line)}
			}
			seq = resolveYAMLAlias(node.Content[i+1])
		}
		if seq == nil {
			s.Permissions = []Permission{}
			return nil
		}
		node = seq
		if node.Kind != yaml.SequenceNode {
			return &ScopeError{Index: -1, Field: "permissions", Problem: fmt.Sprintf("line %d: must be a sequence", node.Line)}
		}
	default:
		return &ScopeError{Index: -1, Problem: fmt.Sprintf("line %d: a scope must be a YAML mapping or sequence", node.Line)}
	}
	perms := make([]Permission, 0, len(node.Content))
	for i, item := range node.Content {
		var p Permission
		if err := p.UnmarshalYAML(item); err != nil {
			return indexScopeError(err, i)
		}
		perms = append(perms, p)
	}
	s.Permissions = perms
	return nil
}

// maxYAMLAliasDepth bounds alias chains followed while decoding.
const maxYAMLAliasDepth = 16

// resolveYAMLAlias follows alias nodes to the node they name (a bounded
// number of times), so that anchors can be reused in configuration files.
func resolveYAMLAlias(n *yaml.Node) *yaml.Node {
	for i := 0; i < maxYAMLAliasDepth && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

// yamlString returns the text of a string scalar, or of an integer scalar
// (topic: 42), and false for anything else (null, booleans, floats,
// mappings, sequences, unresolved aliases).
func yamlString(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		return "", false
	}
	switch n.ShortTag() {
	case "!!str", "!!int":
		return n.Value, true
	}
	return "", false
}
