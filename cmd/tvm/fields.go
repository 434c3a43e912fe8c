package main

import (
	"errors"
	"reflect"
	"regexp"
	"strings"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/jwtauth"
)

// Renames of library field names whose configuration key is not their
// lowerCamel form. An empty name drops the segment (keeping its index).
var (
	handlerFields = map[string]string{"TTL": "ttl", "CORS": "cors", "Rules": "", "Scope": "permissions"}
	jwtFields     = map[string]string{
		"JWKSURL": "jwksURL", "JWKSFile": "jwksFile", "UserPoolID": "userPoolId", "ClientID": "clientId",
		"GroupsClaims": "groupsClaim", "HTTPTimeout": "httpTimeout", "TenantIDs": "tenantIds", "HMAC": "hmac",
		"KeyID": "keyId", "Secret": "", "AllowInsecureHTTP": "allowInsecureHTTP", "JWKSJSON": "jwksJSON",
	}
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
			name = lowerCamel(name)
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
			probs = append(probs, problem{key: keyForField(ce.Field, libPrefix, key, renames), msg: yamlWords(ce.Problem, renames), lib: true})
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

// libraryFieldNames are the field names of the library's configuration
// types, which their problems may mention (e.g. "or set
// AllowMissingAudience"): yamlWords writes them as configuration keys.
var libraryFieldNames = func() map[string]bool {
	names := map[string]bool{}
	for _, v := range []any{tvm.Config{}, tvm.BasicConfig{}, tvm.User{}, tvm.GroupRule{}, tvm.NarrowOptions{}, tvm.CORSOptions{},
		tvm.ReuseOptions{}, tvm.RetryOptions{}, tvm.MemoryRateLimitConfig{}, tvm.MomentoRateLimitConfig{}, tvm.MomentoVendorConfig{},
		jwtauth.Config{}, jwtauth.Issuer{}, jwtauth.Cognito{}, jwtauth.Entra{}, jwtauth.HMACKey{}} {
		t := reflect.TypeOf(v)
		for i := range t.NumField() {
			names[t.Field(i).Name] = true
		}
	}
	return names
}()

// goWord matches a word that may be a Go field name.
var goWord = regexp.MustCompile(`\b[A-Z][A-Za-z]*[a-z][A-Za-z]*\b|\b[A-Z]{2,}[A-Za-z]*\b`)

// yamlWords rewrites the library field names in a problem as the
// configuration keys they come from: renames first, else lowerCamel.
func yamlWords(msg string, renames map[string]string) string {
	return goWord.ReplaceAllStringFunc(msg, func(w string) string {
		if !libraryFieldNames[w] {
			return w
		}
		if r, ok := renames[w]; ok && r != "" {
			return r
		}
		if r, ok := jwtFields[w]; ok && r != "" {
			return r
		}
		return lowerCamel(w)
	})
}

// lowerCamel returns the lowerCamel form of a Go name: "PasswordHash" →
// "passwordHash", "TTL" → "ttl", "JWKSFile" → "jwksFile".
func lowerCamel(name string) string {
	n := 0
	for n < len(name) && name[n] >= 'A' && name[n] <= 'Z' {
		n++
	}
	switch {
	case n == len(name):
		return strings.ToLower(name)
	case n > 1:
		n-- // the last capital starts the next word
	}
	return strings.ToLower(name[:n]) + name[n:]
}
