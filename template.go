package tvm

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Templates
//
// Any name in a Permission (Cache, Topic, TopicPrefix, Key, KeyPrefix) may
// hold placeholders written "{name}", filled by Scope.Expand from the
// verified Identity only:
//
//   - "{sub}" is Identity.Subject;
//   - any other "{claim}" is the top-level claim of that name in
//     Identity.Claims, which must be a string. Claim names are taken
//     literally: "{custom:tenant}" is the Cognito claim "custom:tenant" and
//     "{https://example.com/tenant}" an Auth0 namespaced claim; a dot is
//     part of the name, never a path into nested claims ("{a.b}" is the
//     top-level claim "a.b").
//
// A placeholder name is 1 to maxPlaceholderLength bytes without "{", "}",
// "*", whitespace or control characters. A lone "}" or an unterminated "{"
// is a syntax error, reported when the scope is validated with
// the resolvers at construction.
//
// A substituted value is 1 to MaxNameLength bytes of Unicode letters,
// digits and combining marks and the characters "-_.@+=~|" only, so it can
// never add a wildcard, a template brace, whitespace, a control character
// or a delimiter such as "/" or ":". Templates use delimiters to keep
// callers apart: in a prefix (TopicPrefix, KeyPrefix) the text after the
// last placeholder must hold a delimiter ("{sub}/", "user-{sub}:"), or the
// prefix "user-ab" of subject "ab" would cover the topics of subject "abc";
// and two placeholders must be separated by text holding a delimiter
// ("{tenant}/{sub}"), or tenant "a" with subject "bc" and tenant "ab" with
// subject "c" would get the same name. A delimiter is any character a
// substituted value cannot hold; "/" and ":" are the natural choices.

// maxPlaceholderLength bounds a placeholder's claim name, in bytes.
const maxPlaceholderLength = 128

// subjectPlaceholder is the placeholder name filled with Identity.Subject,
// as in the template "user-{sub}".
const subjectPlaceholder = "sub"

// valueSymbols are the non-alphanumeric characters a substituted value may
// hold. Every other symbol is a delimiter.
const valueSymbols = "-_.@+=~|"

// templatePart is a literal run of text or a placeholder of a template.
type templatePart struct {
	literal     string
	placeholder string // the claim name when this part is a placeholder
}

// parseTemplate splits s into literal text and placeholders. It returns a
// problem description ("" on success) that never repeats the value.
func parseTemplate(s string) ([]templatePart, string) {
	var parts []templatePart
	rest := s
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			parts = append(parts, templatePart{literal: rest})
			break
		}
		if rest[open] == '}' {
			return nil, `unbalanced "}" in template`
		}
		if open > 0 {
			parts = append(parts, templatePart{literal: rest[:open]})
		}
		rest = rest[open+1:]
		end := strings.IndexAny(rest, "{}")
		if end < 0 || rest[end] == '{' {
			return nil, `unterminated "{" in template`
		}
		name := rest[:end]
		if problem := placeholderProblem(name); problem != "" {
			return nil, problem
		}
		parts = append(parts, templatePart{placeholder: name})
		rest = rest[end+1:]
	}
	return parts, ""
}

func placeholderProblem(name string) string {
	switch {
	case name == "":
		return `empty placeholder "{}" in template`
	case len(name) > maxPlaceholderLength:
		return "placeholder name longer than " + strconv.Itoa(maxPlaceholderLength) + " bytes"
	}
	if problem := charsProblem(name); problem != "" {
		return "placeholder name " + problem
	}
	return ""
}

// templateProblem returns why s is neither a valid name nor a valid
// template of one, or "". prefix says whether s is a topic or key prefix.
func templateProblem(s string, prefix bool) string {
	parts, problem := parseTemplate(s)
	if problem != "" {
		return problem
	}
	if len(parts) == 0 {
		return "empty"
	}
	minLen := 0
	placeholders := 0
	delimited := true // whether text since the last placeholder holds a delimiter
	for _, part := range parts {
		if part.placeholder != "" {
			if !delimited {
				return "placeholder {" + part.placeholder + "} must be separated from the previous one by a delimiter such as \"/\" or \":\""
			}
			placeholders++
			delimited = false
			minLen++ // a placeholder expands to at least one byte
			continue
		}
		minLen += len(part.literal)
		if problem := charsProblem(part.literal); problem != "" {
			return problem
		}
		if strings.IndexFunc(part.literal, isDelimiter) >= 0 {
			delimited = true
		}
	}
	if prefix && !delimited {
		return "a prefix must hold a delimiter such as \"/\" or \":\" after its last placeholder (\"{sub}/\", not \"{sub}\")"
	}
	if placeholders == 0 && minLen > MaxNameLength {
		return "longer than " + strconv.Itoa(MaxNameLength) + " bytes"
	}
	if minLen > MaxNameLength {
		return "longer than " + strconv.Itoa(MaxNameLength) + " bytes even with one-byte values"
	}
	return ""
}

// isValueRune reports whether a substituted value may hold r.
func isValueRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || strings.ContainsRune(valueSymbols, r)
}

// isDelimiter reports whether r, in the literal text of a template,
// separates a substituted value from what follows: a character no value
// can hold.
func isDelimiter(r rune) bool { return !isValueRune(r) }

// valueProblem returns why v cannot be substituted into a template, or "".
// It never repeats the value.
func valueProblem(v string) string {
	switch {
	case v == "":
		return "is empty"
	case len(v) > MaxNameLength:
		return "is longer than " + strconv.Itoa(MaxNameLength) + " bytes"
	case !utf8.ValidString(v):
		return "is not valid UTF-8"
	}
	for _, r := range v {
		if !isValueRune(r) {
			switch {
			case r == '*':
				return `holds "*"`
			case r == '{' || r == '}':
				return `holds "{" or "}"`
			case unicode.IsControl(r):
				return "holds a control character"
			case unicode.IsSpace(r):
				return "holds whitespace"
			case r < utf8.RuneSelf:
				return "holds " + strconv.QuoteRune(r) + " (values may hold letters, digits and " + valueSymbols + ")"
			default:
				return "holds a character other than letters, digits and " + valueSymbols
			}
		}
	}
	return ""
}

// Expand returns a copy of the scope with every placeholder filled from the
// verified identity: "{sub}" with id.Subject and "{claim}" with the
// top-level string claim id.Claims[claim] (see the template rules above).
// A scope without placeholders is validated and returned as is, without
// allocating: the result shares s's array (its capacity is capped, so
// appending to it copies), and a caller that modifies a permission of the
// result in place must copy it first (slices.Clone), since resolvers hand
// out their configured scope this way.
//
// Expand refuses, with an error wrapping ErrInvalidScope (a *ScopeError
// naming the permission, field and placeholder, never the value), a
// template with bad syntax, a missing claim, a claim that is not a string,
// and an empty or unsafe value (see the value rules above); and it
// validates the expanded scope with Scope.Validate. Substitution can never
// turn a literal into a wildcard or a prefix: values cannot hold "*", and
// the kind of each field (name or prefix) is fixed by the template.
func (s Scope) Expand(id Identity) (Scope, error) {
	// Fast path: a scope without braces expands to itself. A valid name
	// never holds a brace, and a name Validate accepts is also a valid
	// template, so Validate alone decides; when it fails, the full path
	// below reports the same error as ever.
	if !s.isTemplate() && s.Validate() == nil {
		return s[:len(s):len(s)], nil
	}
	return s.expandFull(id)
}

// expandFull is Expand without the fast path: it validates the template,
// fills every field into a new scope and validates the result.
func (s Scope) expandFull(id Identity) (Scope, error) {
	if err := s.validateTemplate(); err != nil {
		return nil, err
	}
	out := make(Scope, len(s))
	for i, p := range s {
		for _, f := range []struct {
			name string
			ptr  *string
		}{
			{"cache", &p.Cache}, {"topic", &p.Topic}, {"topicPrefix", &p.TopicPrefix},
			{"key", &p.Key}, {"keyPrefix", &p.KeyPrefix},
		} {
			expanded, err := expandField(*f.ptr, id)
			if err != nil {
				err.Index, err.Field = i, f.name
				return nil, err
			}
			*f.ptr = expanded
		}
		out[i] = p
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

// isTemplate reports whether any name in the scope holds a placeholder
// (or a brace, which validateTemplate reports as bad syntax).
func (s Scope) isTemplate() bool {
	for _, p := range s {
		for _, v := range []string{p.Cache, p.Topic, p.TopicPrefix, p.Key, p.KeyPrefix} {
			if strings.ContainsAny(v, "{}") {
				return true
			}
		}
	}
	return false
}

// expandField fills the placeholders of one validated template.
func expandField(tmpl string, id Identity) (string, *ScopeError) {
	if !strings.ContainsRune(tmpl, '{') {
		return tmpl, nil
	}
	parts, problem := parseTemplate(tmpl)
	if problem != "" {
		return "", &ScopeError{Problem: problem}
	}
	var b strings.Builder
	for _, part := range parts {
		if part.placeholder == "" {
			b.WriteString(part.literal)
			continue
		}
		v, problem := placeholderValue(part.placeholder, id)
		if problem != "" {
			return "", &ScopeError{Problem: "placeholder {" + part.placeholder + "}: " + problem}
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// placeholderValue returns the value of a placeholder for id, or a problem.
func placeholderValue(name string, id Identity) (string, string) {
	var v string
	if name == subjectPlaceholder {
		v = id.Subject
		if v == "" {
			return "", "the identity has no subject"
		}
	} else {
		raw, ok := id.Claims[name]
		if !ok {
			return "", "claim missing"
		}
		if v, ok = raw.(string); !ok {
			return "", "claim is not a string"
		}
	}
	if problem := valueProblem(v); problem != "" {
		return "", "value " + problem
	}
	return v, ""
}
