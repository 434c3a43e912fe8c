package main

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tvmgo/tvm"
)

// problem is one configuration problem, reported as "key: msg".
type problem struct {
	key  string // dotted path of the offending key, e.g. "auth.jwt.issuer"
	msg  string // what is wrong, e.g. "required"
	line int    // line in the YAML file, 0 when unknown
	// at is, for decoding problems, the path of the value that failed to
	// decode: validation problems under it are redundant and dropped.
	at string
	// lib says the message is a library component's, which may quote the
	// value it refuses (redactValues removes it).
	lib bool
}

func (p problem) String() string {
	s := p.msg
	if p.key != "" {
		s = p.key + ": " + p.msg
	}
	if p.line > 0 {
		s += " (line " + strconv.Itoa(p.line) + ")"
	}
	return s
}

// configErrors lists every problem found in a configuration. It wraps
// tvm.ErrInvalidConfig. Its message has one line per problem.
type configErrors []problem

func (e configErrors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (e configErrors) Unwrap() error { return tvm.ErrInvalidConfig }

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// decodeStrict decodes a YAML node into v (a pointer) like yaml.v3 with
// KnownFields(true), but walks the whole tree itself so that it reports
// every problem (not only the first), each naming the dotted key path:
// unknown keys, duplicate keys, wrong kinds, bad durations. Types that
// implement yaml.Unmarshaler (such as tvm.Scope) decode themselves.
func decodeStrict(node *yaml.Node, v any) []problem {
	var probs []problem
	walk(node, reflect.ValueOf(v).Elem(), "", &probs)
	return probs
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mayHoldSecret reports whether a value at path may be a secret written in
// the wrong place (a password where a user or a hash belongs, e.g. an
// htpasswd line "alice:pw", or "passwordHash pw" without its colon):
// problems there never quote a value or an unknown key.
func mayHoldSecret(path string) bool {
	return path == "auth.users" || strings.HasPrefix(path, "auth.users[") || strings.HasPrefix(path, "auth.users.")
}

// kindName describes the value n found where something else belongs by
// its kind, never by its value: a value in the wrong place may be a secret
// (a password, an API key).
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string (not shown)"
	default:
		return "something else"
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func walk(n *yaml.Node, v reflect.Value, path string, probs *[]problem) {
	add := func(msg string) { *probs = append(*probs, problem{key: path, msg: msg, line: n.Line, at: path}) }
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		add("aliases are not supported")
		return
	}
	if isNull(n) {
		return // leave the zero value: "key:" with nothing means unset
	}
	if v.Kind() != reflect.Pointer && v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			var se *tvm.ScopeError
			if errors.As(err, &se) {
				// A problem in one permission of a scope names it, and its
				// line.
				k, line := path, n.Line
				if se.Index >= 0 {
					k = fmt.Sprintf("%s[%d]", path, se.Index)
					if n.Kind == yaml.SequenceNode && se.Index < len(n.Content) {
						line = n.Content[se.Index].Line
					}
				}
				if se.Field != "" {
					k = joinKey(k, se.Field)
				}
				if strings.HasPrefix(se.Problem, "line ") {
					line = 0 // the problem names its line already
				}
				*probs = append(*probs, problem{key: k, msg: se.Problem, line: line, at: path, lib: true})
				return
			}
			*probs = append(*probs, problem{key: path, msg: cleanYAMLError(err), line: n.Line, at: path, lib: true})
		}
		return
	}
	if v.Type() == durationType {
		if n.Kind != yaml.ScalarNode {
			add("expected a duration such as 15m, got " + kindName(n))
			return
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			add("not a duration (use a unit, e.g. 30s or 15m)")
			return
		}
		v.SetInt(int64(d))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		walk(n, nv.Elem(), path, probs)
		v.Set(nv)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			add("expected a mapping, got " + kindName(n))
			return
		}
		fields := yamlFields(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := k.Value
			kp := joinKey(path, key)
			if k.Kind != yaml.ScalarNode {
				*probs = append(*probs, problem{key: path, msg: "keys must be plain names", line: k.Line})
				continue
			}
			idx, ok := fields[key]
			shown, hidden := kp, ""
			if !ok && mayHoldSecret(path) {
				// Named by its line only; at keeps the problems of the
				// known keys beside it.
				shown, hidden = path, " (not shown)"
			}
			if seen[key] {
				*probs = append(*probs, problem{key: shown, msg: "duplicate key" + hidden, line: k.Line, at: kp})
				continue
			}
			seen[key] = true
			if !ok {
				*probs = append(*probs, problem{key: shown, msg: "unknown key" + hidden + suggest(key, fields), line: k.Line, at: kp})
				continue
			}
			walk(val, v.Field(idx), kp, probs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if v.Type().Elem().Kind() == reflect.String && n.Kind == yaml.ScalarNode {
				// A single string where a list of strings is expected.
				s := reflect.MakeSlice(v.Type(), 1, 1)
				walk(n, s.Index(0), path, probs)
				v.Set(s)
				return
			}
			add("expected a list, got " + kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			walk(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), probs)
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			add("expected a string, got " + kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			add("expected true or false, got " + kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			add("expected an integer, got " + kindName(n))
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || n.Decode(&f) != nil {
			add("expected a number, got " + kindName(n))
			return
		}
		v.SetFloat(f)
	default:
		if err := n.Decode(v.Addr().Interface()); err != nil {
			add(cleanYAMLError(err))
		}
	}
}

// dropRedundant returns the decoding problems and the validation problems
// that are not about values that already failed to decode (a value that did
// not decode is zero, and "required" would only repeat the decoding
// problem).
func dropRedundant(decode, validation []problem) []problem {
	return append(decode, dropUnder(decode, validation)...)
}

// dropUnder returns the problems of more that are not about a key that
// already has a problem in reported (or a key inside it).
func dropUnder(reported, more []problem) []problem {
	var out []problem
	for _, m := range more {
		redundant := false
		for _, r := range reported {
			at := r.at
			if at == "" {
				at = r.key
			}
			if at != "" && (m.key == at || strings.HasPrefix(m.key, at+".") || strings.HasPrefix(m.key, at+"[")) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, m)
		}
	}
	return out
}

// yamlFields maps the yaml key of each exported field of t to its index.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = i
	}
	return m
}

// suggest returns ` (did you mean "x"?)` when key differs from a known key
// only by case or by a "-"/"_" separator.
func suggest(key string, fields map[string]int) string {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s))
	}
	for k := range fields {
		if norm(k) == norm(key) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}

// cleanYAMLError turns a yaml.v3 decode error into one short line.
func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = strings.TrimSpace(m)
		}
		return strings.Join(msgs, "; ")
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return strings.ReplaceAll(msg, "\n", "; ")
}

// minSecret is the length of the shortest value redactValues removes:
// shorter values are names (HS256, none, *) that help read the message,
// and would mostly match words.
const minSecret = 8

// redactValues removes from the message of each problem a library
// component reported (or a value decoding itself, such as a scope) the
// values of 8 bytes or more the configuration holds at or under the
// problem's key, which is how the refused value would be echoed (the
// library's CORS and scope checks quote what they refuse), quoted or not.
// The binary's own messages never hold a value. A misplaced secret is never
// printed back.
func redactValues(doc *yaml.Node, probs []problem) []problem {
	values := map[string][]string{} // key path → the scalars at or under it
	var collect func(n *yaml.Node, path string, ancestors []string)
	collect = func(n *yaml.Node, path string, ancestors []string) {
		ancestors = append(ancestors, path)
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				collect(c, path, ancestors[:len(ancestors)-1])
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				collect(n.Content[i+1], joinKey(path, n.Content[i].Value), ancestors)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				collect(c, fmt.Sprintf("%s[%d]", path, i), ancestors)
			}
		case yaml.ScalarNode:
			if n.Value != "" {
				for _, a := range ancestors {
					values[a] = append(values[a], n.Value)
				}
			}
		}
	}
	collect(doc, "", nil)
	for i, p := range probs {
		if !p.lib {
			continue
		}
		for _, v := range values[p.key] {
			if len(v) < minSecret {
				continue
			}
			for _, q := range []string{strconv.Quote(v), strconv.QuoteToASCII(v), `"` + v + `"`, v} {
				p.msg = strings.ReplaceAll(p.msg, q, "(value not shown)")
			}
		}
		probs[i] = p
	}
	return probs
}
