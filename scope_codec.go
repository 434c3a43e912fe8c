package tvm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parseRole returns the role named by s. Names are case-insensitive and may
// hold "-" or "_" between words, so "publishsubscribe", "PublishSubscribe",
// "publish-subscribe" and "PUBLISH_SUBSCRIBE" all name PublishSubscribe.
// An unknown name is an error wrapping ErrInvalidScope.
func parseRole(s string) (Role, error) {
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
		r, err := parseRole(value)
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

// decodeJSONPermission decodes one permission object strictly (see
// Scope.UnmarshalJSON).
func decodeJSONPermission(dec *json.Decoder) (Permission, error) {
	if err := expectJSONDelim(dec, '{', "a permission must be a JSON object"); err != nil {
		return Permission{}, err
	}
	var out Permission
	seen := make(map[string]bool, 6)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Permission{}, jsonScopeError(err)
		}
		name, _ := tok.(string)
		tok, err = dec.Token()
		if err != nil {
			return Permission{}, jsonScopeError(err)
		}
		value, ok := tok.(string)
		if !ok {
			return Permission{}, &ScopeError{Index: -1, Field: summaryValue(name), Problem: "must be a JSON string"}
		}
		if err := out.setField(name, value, seen); err != nil {
			return Permission{}, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing "}"
		return Permission{}, jsonScopeError(err)
	}
	return out, nil
}

// UnmarshalJSON decodes a scope, either {"permissions": [...]} or the bare
// array of permissions [...], each permission an object such as
//
//	{"role": "publishsubscribe", "cache": "default-cache", "topic": "*"}
//
// strictly: every value must be a JSON string; unknown and duplicate field
// names (matched case-sensitively) and null are refused; role names are
// case-insensitive and may hold "-" or "_" between words
// ("publish-subscribe", "PUBLISH_SUBSCRIBE"). Trailing data is refused. It
// does not validate the scope (an empty scope decodes); the resolvers and
// Scope.Validate do. Errors wrap ErrInvalidScope.
func (s *Scope) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return jsonScopeError(err)
	}
	var perms Scope
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
		if _, err := dec.Token(); err != nil { // the closing "}"
			return jsonScopeError(err)
		}
	default:
		return &ScopeError{Index: -1, Problem: "a scope must be a JSON object or array"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &ScopeError{Index: -1, Problem: "trailing data after the scope"}
	}
	*s = perms
	return nil
}

// decodeJSONPermissions decodes the elements of a JSON array whose "[" has
// been read, and the closing "]".
func decodeJSONPermissions(dec *json.Decoder) (Scope, error) {
	perms := Scope{}
	for i := 0; dec.More(); i++ {
		p, err := decodeJSONPermission(dec)
		if err != nil {
			return nil, indexScopeError(err, i)
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

// decodeYAMLPermission decodes one permission mapping strictly (see
// Scope.UnmarshalYAML).
func decodeYAMLPermission(node *yaml.Node) (Permission, error) {
	node = resolveYAMLAlias(node)
	if node.Kind != yaml.MappingNode {
		return Permission{}, &ScopeError{Index: -1, Problem: fmt.Sprintf("line %d: a permission must be a YAML mapping", node.Line)}
	}
	var out Permission
	seen := make(map[string]bool, 6)
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := resolveYAMLAlias(node.Content[i]), resolveYAMLAlias(node.Content[i+1])
		name, ok := yamlString(k)
		if !ok {
			return Permission{}, &ScopeError{Index: -1, Problem: fmt.Sprintf("line %d: field names must be strings", k.Line)}
		}
		value, ok := yamlString(v)
		if !ok {
			return Permission{}, &ScopeError{Index: -1, Field: summaryValue(name), Problem: fmt.Sprintf("line %d: must be a string", v.Line)}
		}
		if err := out.setField(name, value, seen); err != nil {
			return Permission{}, err
		}
	}
	return out, nil
}

// UnmarshalYAML decodes a scope, either a mapping with the one key
// "permissions" or a bare sequence of permissions, each a mapping such as
//
//   - role: publish-subscribe
//     cache: default-cache
//     topic: "*"     # quoted: a bare * starts a YAML alias
//
// with the same strictness as UnmarshalJSON: values must be strings (an
// unquoted integer such as 42 is read as its text), unknown and duplicate
// keys are refused. Anchors and aliases are followed. It does not validate
// the scope.
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
			*s = Scope{}
			return nil
		}
		node = seq
		if node.Kind != yaml.SequenceNode {
			return &ScopeError{Index: -1, Field: "permissions", Problem: fmt.Sprintf("line %d: must be a sequence", node.Line)}
		}
	default:
		return &ScopeError{Index: -1, Problem: fmt.Sprintf("line %d: a scope must be a YAML mapping or sequence", node.Line)}
	}
	perms := make(Scope, 0, len(node.Content))
	for i, item := range node.Content {
		p, err := decodeYAMLPermission(item)
		if err != nil {
			return indexScopeError(err, i)
		}
		perms = append(perms, p)
	}
	*s = perms
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
