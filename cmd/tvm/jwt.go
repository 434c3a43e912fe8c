package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"github.com/tvmgo/tvm"
	"github.com/tvmgo/tvm/jwtauth"
)

// maxSecretFile bounds an HMAC secret file.
const maxSecretFile = 4 << 10

// resolveFiles makes the file names of auth.jwt (jwksFile, hmac.secretFile,
// at every level) relative to dir, the configuration file's directory. It
// does nothing on a nil JWTConfig.
func (j *JWTConfig) resolveFiles(dir string) {
	if j == nil {
		return
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&j.JWKSFile)
	if j.HMAC != nil {
		abs(&j.HMAC.SecretFile)
	}
	for i := range j.Issuers {
		j.Issuers[i].resolveFiles(dir)
	}
}

// buildJWT returns the authenticator of auth.jwt: the library's
// jwtauth.Config made from the YAML, the library's problems named by YAML
// keys.
func buildJWT(ctx context.Context, j *JWTConfig, log *slog.Logger) (*jwtauth.Authenticator, error) {
	var probs configErrors
	cfg := jwtauth.Config{
		Leeway: j.Leeway, MaxTokenBytes: j.MaxTokenBytes, HTTPTimeout: j.HTTPTimeout, RefreshInterval: j.RefreshInterval,
		CacheSize: j.CacheSize, DisableCache: j.DisableCache, Context: ctx, Logger: log,
	}
	single := len(j.Issuers) == 0
	if single {
		is, p := jwtIssuer(j, "auth.jwt")
		cfg.Issuers, probs = []jwtauth.Issuer{is}, p
	} else {
		if set := issuerKeysSet(j); set != "" {
			probs = append(probs, problem{key: "auth.jwt." + set, msg: "with issuers, set the keys of each issuer in its entry, not here"})
		}
		for i := range j.Issuers {
			item := &j.Issuers[i]
			key := fmt.Sprintf("auth.jwt.issuers[%d]", i)
			if set := sharedKeysSet(item); set != "" {
				probs = append(probs, problem{key: key + "." + set, msg: "shared by every issuer: set it at auth.jwt"})
			}
			is, p := jwtIssuer(item, key)
			cfg.Issuers = append(cfg.Issuers, is)
			probs = append(probs, p...)
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	a, err := jwtauth.New(cfg)
	if err != nil {
		return nil, jwtProblems(err, "auth.jwt", single, false)
	}
	return a, nil
}

// buildCognito returns the authenticator of auth.cognito: one Cognito
// issuer.
func buildCognito(ctx context.Context, c *CognitoConfig, log *slog.Logger) (*jwtauth.Authenticator, error) {
	a, err := jwtauth.New(jwtauth.Config{
		Issuers: []jwtauth.Issuer{{
			Cognito:           &jwtauth.Cognito{Region: c.Region, UserPoolID: c.UserPoolID, ClientID: c.ClientID, TokenUse: c.TokenUse},
			JWKSURL:           c.JWKSURL,
			SubjectClaim:      c.SubjectClaim,
			GroupsClaims:      c.GroupsClaim,
			OutliveCredential: c.OutliveCredential,
		}},
		Leeway:  c.Leeway,
		Context: ctx,
		Logger:  log,
	})
	if err != nil {
		return nil, jwtProblems(err, "auth.cognito", true, true)
	}
	return a, nil
}

// jwtIssuer maps the keys of one issuer (at key) onto a jwtauth.Issuer,
// reading its HMAC secret. Problems of the binary's own (where the secret
// comes from) are returned; the library judges the rest.
func jwtIssuer(j *JWTConfig, key string) (jwtauth.Issuer, configErrors) {
	is := jwtauth.Issuer{
		Name: j.Name, Issuer: j.Issuer, IssuerAliases: j.IssuerAliases,
		JWKSURL: j.JWKSURL, JWKSFile: j.JWKSFile, AllowInsecureHTTP: j.AllowInsecureHTTP,
		Audience: j.Audience, AllowMissingAudience: j.AllowMissingAudience, Algorithms: j.Algorithms,
		SubjectClaim: j.SubjectClaim, GroupsClaims: j.GroupsClaim, RequiredClaims: j.RequiredClaims,
		OutliveCredential: j.OutliveCredential,
	}
	if c := j.Cognito; c != nil {
		is.Cognito = &jwtauth.Cognito{Region: c.Region, UserPoolID: c.UserPoolID, ClientID: c.ClientID, TokenUse: c.TokenUse}
	}
	if e := j.Entra; e != nil {
		is.Entra = &jwtauth.Entra{TenantIDs: e.TenantIDs}
	}
	if j.HMAC == nil {
		return is, nil
	}
	secret, probs := readSecret(j.HMAC, key+".hmac")
	is.HMAC = &jwtauth.HMACKey{Secret: secret, KeyID: j.HMAC.KeyID}
	return is, probs
}

// readSecret reads the HMAC secret from the one place h names. No problem
// text ever holds the secret or a part of it.
func readSecret(h *HMACConfig, key string) (jwtauth.Secret, configErrors) {
	switch {
	case h.Secret != "":
		return nil, configErrors{{key: key + ".secret", msg: "inline secrets are refused (configuration files get committed, copied and printed): use secretFile or secretEnv"}}
	case h.SecretFile != "" && h.SecretEnv != "":
		return nil, configErrors{{key: key, msg: "set one of secretFile and secretEnv"}}
	case h.SecretEnv != "":
		v, ok := os.LookupEnv(h.SecretEnv)
		if !ok || v == "" {
			return nil, configErrors{{key: key + ".secretEnv", msg: fmt.Sprintf("the environment variable %s is not set", h.SecretEnv)}}
		}
		return jwtauth.Secret(v), nil
	case h.SecretFile != "":
		f, err := os.Open(h.SecretFile)
		if err != nil {
			return nil, configErrors{{key: key + ".secretFile", msg: "cannot read the secret file: " + pathError(err)}}
		}
		defer f.Close()
		raw, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		switch {
		case err != nil:
			return nil, configErrors{{key: key + ".secretFile", msg: "cannot read the secret file: " + pathError(err)}}
		case len(raw) > maxSecretFile:
			return nil, configErrors{{key: key + ".secretFile", msg: fmt.Sprintf("larger than %d bytes: not a secret", maxSecretFile)}}
		}
		raw = []byte(strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r"))
		return jwtauth.Secret(raw), nil
	}
	return nil, configErrors{{key: key, msg: "set secretFile or secretEnv"}}
}

// pathError is the reason of a file error, without echoing anything read.
func pathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

// issuerKeysSet returns the YAML key of the first issuer key set in j
// (besides issuers and the shared keys), or "".
func issuerKeysSet(j *JWTConfig) string {
	rest := *j
	rest.Issuers = nil
	rest.Leeway, rest.MaxTokenBytes, rest.HTTPTimeout, rest.RefreshInterval, rest.CacheSize, rest.DisableCache = 0, 0, 0, 0, 0, false
	return firstSet(&rest)
}

// sharedKeysSet returns the YAML key of the first shared key (or nested
// issuers) set in an entry of issuers, or "".
func sharedKeysSet(j *JWTConfig) string {
	shared := JWTConfig{Issuers: j.Issuers, Leeway: j.Leeway, MaxTokenBytes: j.MaxTokenBytes, HTTPTimeout: j.HTTPTimeout,
		RefreshInterval: j.RefreshInterval, CacheSize: j.CacheSize, DisableCache: j.DisableCache}
	return firstSet(&shared)
}

// firstSet returns the YAML key of the first non-zero field of j, or "".
func firstSet(j *JWTConfig) string {
	v := reflect.ValueOf(j).Elem()
	for i := range v.NumField() {
		if !v.Field(i).IsZero() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			return name
		}
	}
	return ""
}

// requiredClaimField matches the library's RequiredClaims["name"] field
// segment.
var requiredClaimField = regexp.MustCompile(`\.RequiredClaims\[`)

// jwtProblems names the library's problems by YAML keys under key. With
// single, the issuer's keys are at key itself (Config.Issuers[0].Audience
// is auth.jwt.audience); with cognito, so are the preset's
// (Config.Issuers[0].Cognito.Region is auth.cognito.region).
func jwtProblems(err error, key string, single, cognito bool) configErrors {
	var renamed []error
	each := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		each = j.Unwrap()
	}
	for _, e := range each {
		var ce *tvm.ConfigError
		if !errors.As(e, &ce) {
			renamed = append(renamed, e)
			continue
		}
		f := ce.Field
		if cognito {
			f = strings.Replace(f, "Config.Issuers[0].Cognito.", "Config.", 1)
		}
		if single {
			f = strings.Replace(f, "Config.Issuers[0].", "Config.", 1)
			if f == "Config.Issuers[0]" {
				f = "Config"
			}
		}
		f = requiredClaimField.ReplaceAllString(f, ".requiredClaims[")
		renamed = append(renamed, &tvm.ConfigError{Field: f, Problem: ce.Problem})
	}
	return libraryProblems(errors.Join(renamed...), "Config", key, jwtFields)
}
