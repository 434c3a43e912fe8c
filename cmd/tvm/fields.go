package main

import (
	"errors"
	"regexp"
	"strings"

	"github.com/tvmgo/tvm"
)

// Renames of library field names whose configuration key is not their
// lowerCamel form. An empty name drops the segment (keeping its index).
var (
	handlerFields   = map[string]string{"TTL": "ttl", "CORS": "cors", "Rules": "", "Scope": "permissions"}
	jwtFields       = map[string]string{"JWKSURL": "jwksURL", "JWKSFile": "jwksFile", "UserPoolID": "userPoolId", "ClientID": "clientId"}
	scopeFields     = map[string]string{"Rules": "", "Scope": "permissions", "TTL": "ttl"}
	rateLimitFields = map[string]string{"PerSecond": "requestsPerSecond", "MaxEntries": "maxIdentities", "CacheName": "cache"}
	// The vendor's key and endpoint come from the environment (the
	// endpoint also from momento.endpoint).
	vendorFields = map[string]string{"APIKey": "MOMENTO_API_KEY", "Endpoint": "MOMENTO_ENDPOINT"}
)

// fieldSegment is one segment of a library field path: a name and indexes.
var fieldSegment = regexp.MustCompile(`^([A-Za-z]*)((?:\[\d+\])*)$`)

// keyForField turns the path of a library field, such as
// "BasicConfig.Users[1].PasswordHash", into the configuration key it comes
// from, "auth.users[1].passwordHash": the component's prefix (libPrefix,
// e.g. "BasicConfig") becomes its key (e.g. "auth"), and every further
// segment its lowerCamel form unless renames says otherwise.
func keyForField(field, libPrefix, key string, renames map[string]string) string {
	rest, ok := strings.CutPrefix(field, libPrefix)
	if !ok || (rest != "" && rest[0] != '.' && rest[0] != '[') {
		return field
	}
	if strings.HasPrefix(rest, "[") { // "GroupScopes[0]" style
		end := strings.IndexByte(rest, '.')
		if end < 0 {
			end = len(rest)
		}
		key += rest[:end]
		rest = rest[end:]
	}
	for p := range strings.SplitSeq(strings.TrimPrefix(rest, "."), ".") {
		if p == "" {
			continue
		}
		m := fieldSegment.FindStringSubmatch(p)
		if m == nil {
			key = joinKey(key, p)
			continue
		}
		name, idx := m[1], m[2]
		if r, ok := renames[name]; ok {
			name = r
		} else if name != "" {
			name = strings.ToLower(name[:1]) + name[1:]
		}
		if name == "" {
			key += idx
			continue
		}
		key = joinKey(key, name) + idx
	}
	return key
}

// libraryProblems turns the library's configuration errors (a
// *tvm.ConfigError, or several joined) from the component whose fields
// start with libPrefix into configErrors naming configuration keys under
// key. It returns nil for a nil error.
func libraryProblems(err error, libPrefix, key string, renames map[string]string) configErrors {
	if err == nil {
		return nil
	}
	var probs configErrors
	add := func(err error) {
		var ce *tvm.ConfigError
		if errors.As(err, &ce) {
			probs = append(probs, problem{key: keyForField(ce.Field, libPrefix, key, renames), msg: ce.Problem, lib: true})
			return
		}
		probs = append(probs, problem{key: key, msg: strings.TrimPrefix(err.Error(), "tvm: "), lib: true})
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			add(e)
		}
	} else {
		add(err)
	}
	return probs
}
