package tvm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// ScopeResolver decides what a verified caller may have. It reads the
// Identity, and the request only for optional narrowing (the caller asking
// for less than its identity allows); nothing in the request may widen the
// scope. It returns an error wrapping ErrForbidden when the caller gets no
// scope, and ErrBadRequest when a narrowing parameter is malformed.
type ScopeResolver interface {
	Resolve(ctx context.Context, id Identity, r *http.Request) (Grant, error)
}

// ResolverFunc adapts a function to the ScopeResolver interface.
type ResolverFunc func(ctx context.Context, id Identity, r *http.Request) (Grant, error)

// Resolve calls f(ctx, id, r).
func (f ResolverFunc) Resolve(ctx context.Context, id Identity, r *http.Request) (Grant, error) {
	return f(ctx, id, r)
}

// Rule names reported in Grant.Rule by the resolvers of this package.
const (
	// RuleStatic is the Grant.Rule of StaticScope.
	RuleStatic = "static"
	// RuleDefault is the Grant.Rule of a DefaultRule.
	RuleDefault = "default"
	// ruleGroupPrefix starts the Grant.Rule of a group rule: "group:<name>".
	ruleGroupPrefix = "group:"
)

// maxGroupLength bounds the group name of a GroupRule, in bytes.
const maxGroupLength = 256

// StaticScope returns a resolver that gives every authenticated caller the
// same scope, with templates such as "user-{sub}" filled from the caller's
// identity (see Scope.Expand). Grant.Rule is "static" and Grant.TTL zero
// (the handler's default).
//
// The scope is checked at construction with Scope.ValidateTemplate: the
// resolver's Validate method returns the problem (NewHandler calls it and
// fails closed) and Resolve refuses every caller with it. A caller whose
// identity cannot fill the templates gets an error wrapping ErrForbidden.
func StaticScope(s Scope) ScopeResolver {
	r := &staticResolver{scope: cloneScope(s)}
	if err := r.scope.ValidateTemplate(); err != nil {
		r.err = fmt.Errorf("%w: StaticScope: %w", ErrInvalidConfig, err)
	}
	return r
}

type staticResolver struct {
	scope Scope
	err   error
}

// Validate returns the configuration error found at construction, if any.
func (r *staticResolver) Validate() error { return r.err }

// Resolve returns the scope expanded for id.
func (r *staticResolver) Resolve(_ context.Context, id Identity, _ *http.Request) (Grant, error) {
	if r.err != nil {
		return Grant{}, r.err
	}
	return expandGrant(r.scope, id, RuleStatic, 0)
}

// GroupRule gives the callers in Group the Scope, in tokens that live TTL
// (zero means the handler's default). GroupScopes tries its rules in order.
// A rule made by DefaultRule matches every caller.
type GroupRule struct {
	// Group is the group (Identity.Groups, e.g. a Cognito group) the rule
	// applies to, compared exactly (case-sensitively).
	Group string
	// Scope is the scope the rule grants. It may hold templates.
	Scope Scope
	// TTL is the lifetime of the tokens the rule grants, between
	// MinTokenTTL and MaxTokenTTL; zero means the handler's default.
	TTL time.Duration

	matchAll bool
}

// DefaultRule returns a rule that matches every caller, for use as the
// last rule of GroupScopes. Without one, a caller in none of the groups is
// refused (ErrForbidden).
func DefaultRule(s Scope) GroupRule { return GroupRule{Scope: s, matchAll: true} }

// WithTTL returns a copy of the rule whose tokens live ttl.
func (g GroupRule) WithTTL(ttl time.Duration) GroupRule {
	g.TTL = ttl
	return g
}

// IsDefault reports whether the rule was made by DefaultRule and matches
// every caller.
func (g GroupRule) IsDefault() bool { return g.matchAll }

// Name returns the rule's name as reported in Grant.Rule: "default" for a
// DefaultRule, "group:<Group>" otherwise.
func (g GroupRule) Name() string {
	if g.matchAll {
		return RuleDefault
	}
	return ruleGroupPrefix + g.Group
}

// matches reports whether the rule applies to id.
func (g GroupRule) matches(id Identity) bool {
	return g.matchAll || slices.Contains(id.Groups, g.Group)
}

// GroupScopes returns a resolver that gives a caller the scope of the
// first rule, in order, whose group is one of the caller's verified groups
// (Identity.Groups) or that is a DefaultRule; templates in the scope are
// filled from the caller's identity. Grant.Rule names the rule
// ("group:ReadWriteUserGroup", "default") and Grant.TTL is the rule's TTL.
// A caller no rule matches gets an error wrapping ErrForbidden, as does a
// caller whose identity cannot fill the rule's templates.
//
// The rules are checked at construction: at least one rule; every rule a
// non-empty group without control characters, or a DefaultRule; no group
// twice; at most one DefaultRule and only as the last rule (rules after it
// could never match); TTL zero or between MinTokenTTL and MaxTokenTTL; every scope valid
// (Scope.ValidateTemplate). The resolver's Validate method returns the
// first problem (NewHandler calls it and fails closed) and Resolve then
// refuses every caller with it. The rules are copied: changing the
// arguments afterwards does not change the resolver.
func GroupScopes(rules ...GroupRule) ScopeResolver {
	r := &groupResolver{rules: make([]GroupRule, len(rules))}
	for i, rule := range rules {
		rule.Scope = cloneScope(rule.Scope)
		r.rules[i] = rule
	}
	r.err = validateGroupRules(r.rules)
	return r
}

type groupResolver struct {
	rules []GroupRule
	err   error
}

// Validate returns the configuration error found at construction, if any.
func (r *groupResolver) Validate() error { return r.err }

// Resolve returns the expanded scope of the first rule matching id.
func (r *groupResolver) Resolve(_ context.Context, id Identity, _ *http.Request) (Grant, error) {
	if r.err != nil {
		return Grant{}, r.err
	}
	for _, rule := range r.rules {
		if rule.matches(id) {
			return expandGrant(rule.Scope, id, rule.Name(), rule.TTL)
		}
	}
	return Grant{}, fmt.Errorf("%w: no group rule matches the caller", ErrForbidden)
}

func validateGroupRules(rules []GroupRule) error {
	if len(rules) == 0 {
		return &ConfigError{Field: "GroupScopes", Problem: "no rules (every caller would be refused)"}
	}
	seen := make(map[string]bool, len(rules))
	for i, rule := range rules {
		field := "GroupScopes.rules[" + strconv.Itoa(i) + "]"
		if rule.matchAll {
			if i != len(rules)-1 {
				return &ConfigError{Field: field, Problem: "DefaultRule must be the last rule (the rules after it could never match)"}
			}
			if rule.Group != "" {
				return &ConfigError{Field: field + ".Group", Problem: "must be empty on a DefaultRule"}
			}
		} else {
			switch {
			case rule.Group == "":
				return &ConfigError{Field: field + ".Group", Problem: "empty (use DefaultRule to match every caller)"}
			case len(rule.Group) > maxGroupLength:
				return &ConfigError{Field: field + ".Group", Problem: "longer than " + strconv.Itoa(maxGroupLength) + " bytes"}
			case !utf8.ValidString(rule.Group) || strings.ContainsFunc(rule.Group, unicode.IsControl):
				return &ConfigError{Field: field + ".Group", Problem: "holds invalid UTF-8 or a control character"}
			case seen[rule.Group]:
				return &ConfigError{Field: field + ".Group", Problem: "duplicate group " + summaryValue(rule.Group) + " (only the first rule could match)"}
			}
			seen[rule.Group] = true
		}
		if rule.TTL != 0 && (rule.TTL < MinTokenTTL || rule.TTL > MaxTokenTTL) {
			return &ConfigError{Field: field + ".TTL", Problem: "must be 0 (the handler's default) or between " + MinTokenTTL.String() + " and " + MaxTokenTTL.String()}
		}
		if err := rule.Scope.ValidateTemplate(); err != nil {
			return fmt.Errorf("%w: %s.Scope (%s): %w", ErrInvalidConfig, field, rule.Name(), err)
		}
	}
	return nil
}

// expandGrant fills the templates of scope for id into a Grant. A caller
// whose identity cannot fill them is forbidden.
func expandGrant(scope Scope, id Identity, rule string, ttl time.Duration) (Grant, error) {
	expanded, err := scope.Expand(id)
	if err != nil {
		// %v, not %w: the caller is refused (403), the configuration is fine.
		return Grant{}, fmt.Errorf("%w: rule %s: cannot fill the scope from the caller's identity: %v", ErrForbidden, rule, err)
	}
	return Grant{Scope: expanded, TTL: ttl, Rule: rule}, nil
}

// cloneScope returns a copy of s that shares no memory with it.
func cloneScope(s Scope) Scope {
	if s.Permissions == nil {
		return Scope{}
	}
	return Scope{Permissions: slices.Clone(s.Permissions)}
}

// UnmarshalJSON decodes a rule such as
//
//	{"group": "ReadWriteUserGroup", "scope": [...], "ttl": "15m"}
//	{"default": true, "scope": {"permissions": [...]}}
//
// strictly: unknown and duplicate fields are refused, "ttl" is a Go
// duration string, "default": true makes a DefaultRule (and excludes
// "group"), and the scope decodes as Scope.UnmarshalJSON does. It does not
// validate the rule; GroupScopes does. Errors wrap ErrInvalidConfig.
func (g *GroupRule) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return &ConfigError{Field: "GroupRule", Problem: "must be a JSON object"}
	}
	var out GroupRule
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: GroupRule: %w", ErrInvalidConfig, err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return &ConfigError{Field: "GroupRule." + summaryValue(name), Problem: "duplicate field"}
		}
		seen[name] = true
		switch name {
		case "scope":
			if err := dec.Decode(&out.Scope); err != nil {
				return fmt.Errorf("%w: GroupRule.scope: %w", ErrInvalidConfig, err)
			}
			continue
		case "group", "ttl", "default":
		default:
			return &ConfigError{Field: "GroupRule." + summaryValue(name), Problem: "unknown field (want group, default, scope or ttl)"}
		}
		tok, err = dec.Token()
		if err != nil {
			return fmt.Errorf("%w: GroupRule: %w", ErrInvalidConfig, err)
		}
		if name == "default" {
			b, ok := tok.(bool)
			if !ok {
				return &ConfigError{Field: "GroupRule.default", Problem: "must be true or false"}
			}
			out.matchAll = b
			continue
		}
		s, ok := tok.(string)
		if !ok {
			return &ConfigError{Field: "GroupRule." + name, Problem: "must be a JSON string"}
		}
		if err := out.setText(name, s); err != nil {
			return err
		}
	}
	return out.finishDecode(g)
}

// UnmarshalYAML decodes a rule from YAML with the same fields and
// strictness as UnmarshalJSON:
//
//	rules:
//	  - group: ReadWriteUserGroup
//	    ttl: 15m
//	    scope:
//	      - {role: publishsubscribe, cache: default-cache, topic: "*"}
//	  - default: true
//	    scope: [...]
func (g *GroupRule) UnmarshalYAML(node *yaml.Node) error {
	node = resolveYAMLAlias(node)
	if node.Kind != yaml.MappingNode {
		return &ConfigError{Field: "GroupRule", Problem: fmt.Sprintf("line %d: must be a YAML mapping", node.Line)}
	}
	var out GroupRule
	seen := map[string]bool{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := resolveYAMLAlias(node.Content[i]), resolveYAMLAlias(node.Content[i+1])
		name, _ := yamlString(k)
		if seen[name] {
			return &ConfigError{Field: "GroupRule." + summaryValue(name), Problem: fmt.Sprintf("line %d: duplicate field", k.Line)}
		}
		seen[name] = true
		switch name {
		case "scope":
			if err := out.Scope.UnmarshalYAML(v); err != nil {
				return fmt.Errorf("%w: GroupRule.scope: %w", ErrInvalidConfig, err)
			}
		case "default":
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
				return &ConfigError{Field: "GroupRule.default", Problem: fmt.Sprintf("line %d: must be true or false", v.Line)}
			}
			out.matchAll = v.Value == "true" || v.Value == "True" || v.Value == "TRUE"
		case "group", "ttl":
			s, ok := yamlString(v)
			if !ok {
				return &ConfigError{Field: "GroupRule." + name, Problem: fmt.Sprintf("line %d: must be a string", v.Line)}
			}
			if err := out.setText(name, s); err != nil {
				return err
			}
		default:
			return &ConfigError{Field: "GroupRule." + summaryValue(k.Value), Problem: fmt.Sprintf("line %d: unknown field (want group, default, scope or ttl)", k.Line)}
		}
	}
	return out.finishDecode(g)
}

// setText sets the "group" or "ttl" field of a rule being decoded.
func (g *GroupRule) setText(name, value string) error {
	if name == "group" {
		g.Group = value
		return nil
	}
	ttl, err := time.ParseDuration(value)
	if err != nil {
		return &ConfigError{Field: "GroupRule.ttl", Problem: "not a duration such as \"15m\""}
	}
	g.TTL = ttl
	return nil
}

// finishDecode checks the decoded rule's shape and stores it in dst.
func (g GroupRule) finishDecode(dst *GroupRule) error {
	if g.matchAll && g.Group != "" {
		return &ConfigError{Field: "GroupRule.group", Problem: "set together with default: true"}
	}
	*dst = g
	return nil
}
