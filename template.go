package tvm

import (
	"strconv"
	"strings"
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
//     "{https://example.com/tenant}" an Auth0 namespaced claim; a dot is part
//     of the name, never a path into nested claims ("{a.b}" is the top-level
//     claim "a.b").
//
// A placeholder name is 1 to maxPlaceholderLength bytes without "{", "}",
// "*", whitespace or control characters. A lone "}" or an unterminated "{"
// is a syntax error, reported when the scope is validated with
// Scope.ValidateTemplate (resolvers do it at construction).

// maxPlaceholderLength bounds a placeholder's claim name, in bytes.
const maxPlaceholderLength = 128

// subjectPlaceholder is the placeholder filled with Identity.Subject.
const subjectPlaceholder = "sub"

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
// template of one, or "".
func templateProblem(s string) string {
	parts, problem := parseTemplate(s)
	if problem != "" {
		return problem
	}
	if len(parts) == 0 {
		return "empty"
	}
	minLen := 0
	for _, part := range parts {
		if part.placeholder != "" {
			minLen++ // a placeholder expands to at least one byte
			continue
		}
		minLen += len(part.literal)
		if problem := charsProblem(part.literal); problem != "" {
			return problem
		}
	}
	if minLen > MaxNameLength {
		return "longer than " + strconv.Itoa(MaxNameLength) + " bytes"
	}
	return ""
}
