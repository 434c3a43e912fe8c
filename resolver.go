package tvm

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// ScopeResolver decides what a verified caller may have. It reads the
// Identity, and the request only for optional narrowing (the caller asking
// for less than its identity allows); nothing in the request may widen the
// scope. It returns an error wrapping ErrForbidden when the caller gets no
// scope, and ErrBadRequest when a narrowing parameter is malformed.
//
// Ready implementations: GroupScopes, and Narrowing around another
// resolver.
type ScopeResolver interface {
	Resolve(ctx context.Context, id Identity, r *http.Request) (Grant, error)
}

// ResolverFunc adapts a function to the ScopeResolver interface.
type ResolverFunc func(ctx context.Context, id Identity, r *http.Request) (Grant, error)

// Resolve calls f(ctx, id, r).
func (f ResolverFunc) Resolve(ctx context.Context, id Identity, r *http.Request) (Grant, error) {
	return f(ctx, id, r)
}

// maxGroupLength bounds the group name of a GroupRule, in bytes.
const maxGroupLength = 256

// GroupRule gives the callers in Group the Scope, in tokens that live TTL.
// GroupScopes tries its rules in order.
type GroupRule struct {
	// Group is the group (Identity.Groups, e.g. a Cognito group) the rule
	// applies to, compared exactly (case-sensitively): 1 to 256 bytes of
	// UTF-8 without control characters. Empty exactly when Default is set.
	Group string
	// Default makes the rule match every caller. Only the last rule may be
	// a default rule; without one, a caller in none of the groups is
	// refused (ErrForbidden).
	Default bool
	// Scope is the scope the rule grants. It may hold templates such as
	// "user-{sub}" (see Scope.Expand).
	Scope Scope
	// TTL is the lifetime of the tokens the rule grants, between one second
	// and MaxTokenTTL; zero means the handler's default (Config.TTL).
	TTL time.Duration
}

// name returns the rule's name as reported in Grant.Rule.
func (g GroupRule) name() string {
	if g.Default {
		return "default"
	}
	return "group:" + g.Group
}

// GroupScopes is a ScopeResolver that gives a caller the scope of the first
// rule, in order, whose group is one of the caller's verified groups
// (Identity.Groups) or that is a default rule. Templates in the scope are
// filled from the caller's identity. Grant.Rule names the rule
// ("group:ReadWriteUserGroup", "default") and Grant.TTL is the rule's TTL.
// A caller no rule matches gets an error wrapping ErrForbidden, as does a
// caller whose identity cannot fill the rule's templates.
//
// Everyone getting the same scope is one default rule:
//
//	tvm.NewGroupScopes(tvm.GroupRule{Default: true, Scope: scope})
type GroupScopes struct {
	rules []groupRule
}

// groupRule is a checked GroupRule and what Resolve needs of it, worked
// out once at construction.
type groupRule struct {
	GroupRule
	name     string // Grant.Rule
	template bool   // the scope holds placeholders, filled per caller
}

// NewGroupScopes checks the rules and returns their resolver. It fails
// closed, reporting every problem as a *ConfigError (joined with
// errors.Join): no rule; a rule with an empty, overlong or invalid group
// (or a group and Default both); a group twice; a default rule that is not
// the last (the rules after it could never match); a TTL outside one
// second to MaxTokenTTL; an invalid scope or template. The rules are
// copied: changing the arguments afterwards does not change the resolver.
func NewGroupScopes(rules ...GroupRule) (*GroupScopes, error) {
	var probs problems
	if len(rules) == 0 {
		probs.add("GroupScopes", "no rules (every caller would be refused)")
	}
	r := &GroupScopes{rules: make([]groupRule, len(rules))}
	seen := make(map[string]bool, len(rules))
	for i, rule := range rules {
		rule.Scope = slices.Clone(rule.Scope)
		r.rules[i] = groupRule{GroupRule: rule, name: rule.name(), template: rule.Scope.isTemplate()}
		field := "GroupScopes.Rules[" + strconv.Itoa(i) + "]"
		switch {
		case rule.Default && rule.Group != "":
			probs.add(field+".Group", "set together with Default")
		case rule.Default && i != len(rules)-1:
			probs.add(field+".Default", "only the last rule may be the default rule (the rules after it could never match)")
		case rule.Default:
		case rule.Group == "":
			probs.add(field+".Group", "required (or Default for a rule that matches every caller)")
		case len(rule.Group) > maxGroupLength:
			probs.add(field+".Group", "longer than "+strconv.Itoa(maxGroupLength)+" bytes")
		case !utf8.ValidString(rule.Group) || hasControl(rule.Group):
			probs.add(field+".Group", "holds invalid UTF-8 or a control character")
		case seen[rule.Group]:
			probs.add(field+".Group", "duplicate group "+summaryValue(rule.Group)+" (only the first rule could match)")
		default:
			seen[rule.Group] = true
		}
		if rule.TTL != 0 && (rule.TTL < minTokenTTL || rule.TTL > MaxTokenTTL) {
			probs.add(field+".TTL", "must be 0 (the handler's default) or between "+minTokenTTL.String()+" and "+MaxTokenTTL.String())
		}
		if err := rule.Scope.validateTemplate(); err != nil {
			probs.addScope(field+".Scope", err)
		}
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	return r, nil
}

// Resolve returns the expanded scope of the first rule matching id.
func (r *GroupScopes) Resolve(_ context.Context, id Identity, _ *http.Request) (Grant, error) {
	for i := range r.rules {
		rule := &r.rules[i]
		if !rule.Default && !slices.Contains(id.Groups, rule.Group) {
			continue
		}
		if !rule.template {
			// What Expand returns for a scope without placeholders, without
			// validating it again on every request: NewGroupScopes did (a
			// name valid as a template without placeholders is a valid
			// name), the scope is the rule's own copy, and the handler
			// validates every grant before vending.
			return Grant{Scope: rule.Scope[:len(rule.Scope):len(rule.Scope)], TTL: rule.TTL, Rule: rule.name}, nil
		}
		return expandGrant(rule.Scope, id, rule.name, rule.TTL)
	}
	return Grant{}, fmt.Errorf("%w: no group rule matches the caller", ErrForbidden)
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
