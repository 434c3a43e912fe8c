package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults of the environment.
const (
	defaultAddr      = "127.0.0.1:8080"
	defaultLocalAddr = "127.0.0.1:9090"
	maxAPIKeySize    = 64 << 10
)

// secret is a string that never prints: fmt, %v, %#v and slog all show
// "[REDACTED]". Use string(s) only where the value is really needed.
type secret string

func (secret) String() string                 { return "[REDACTED]" }
func (secret) GoString() string               { return "[REDACTED]" }
func (secret) LogValue() slog.Value           { return slog.StringValue("[REDACTED]") }
func (s secret) MarshalText() ([]byte, error) { return []byte("[REDACTED]"), nil }

// environment is what the process reads from its environment variables.
type environment struct {
	addr       string // TVM_ADDR
	opsAddr    string // TVM_OPS_ADDR: operations endpoints on their own listener
	configPath string // TVM_CONFIG
	localAddr  string // MOMENTO_LOCAL_ADDR
	lambda     bool   // AWS_LAMBDA_RUNTIME_API is set
	// realDemo (TVM_DEMO_REAL_TOKENS=1) lets the no-config demo vend real
	// tokens with a Momento API key.
	realDemo bool

	// reloadInterval (TVM_RELOAD_INTERVAL) is how often the configuration
	// file and MOMENTO_API_KEY_FILE are checked for changes (reload.go).
	reloadInterval string

	apiKey     secret // MOMENTO_API_KEY
	endpoint   string // MOMENTO_ENDPOINT: the regional endpoint of a v2 key
	apiKeyFile string // MOMENTO_API_KEY_FILE
	// secretID (MOMENTO_API_KEY_SECRET_ID) and parameter
	// (MOMENTO_API_KEY_PARAMETER) name a Secrets Manager secret or an SSM
	// SecureString parameter that holds the API key, read in AWS Lambda
	// through the AWS Parameters and Secrets Lambda Extension.
	secretID, parameter string
	// extensionPort is PARAMETERS_SECRETS_EXTENSION_HTTP_PORT (default 2773)
	// and sessionToken AWS_SESSION_TOKEN, which authenticates calls to it.
	extensionPort string
	sessionToken  secret
}

func readEnv(getenv func(string) string) environment {
	e := environment{
		addr:          getenv("TVM_ADDR"),
		opsAddr:       getenv("TVM_OPS_ADDR"),
		configPath:    getenv("TVM_CONFIG"),
		localAddr:     getenv("MOMENTO_LOCAL_ADDR"),
		lambda:        getenv("AWS_LAMBDA_RUNTIME_API") != "",
		realDemo:      getenv("TVM_DEMO_REAL_TOKENS") == "1",
		apiKey:        secret(strings.TrimSpace(getenv("MOMENTO_API_KEY"))),
		endpoint:      strings.TrimSpace(getenv("MOMENTO_ENDPOINT")),
		apiKeyFile:    getenv("MOMENTO_API_KEY_FILE"),
		secretID:      getenv("MOMENTO_API_KEY_SECRET_ID"),
		parameter:     getenv("MOMENTO_API_KEY_PARAMETER"),
		extensionPort: getenv("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"),
		sessionToken:  secret(getenv("AWS_SESSION_TOKEN")),
	}
	e.reloadInterval = getenv("TVM_RELOAD_INTERVAL")
	if e.addr == "" {
		e.addr = defaultAddr
	}
	if e.localAddr == "" {
		e.localAddr = defaultLocalAddr
	}
	if e.extensionPort == "" {
		e.extensionPort = "2773"
	}
	return e
}

// momentoAPIKey returns the Momento API key from the one configured source,
// or "" when none is. Errors name the source, never the key.
func (e environment) momentoAPIKey(ctx context.Context, client *http.Client) (secret, error) {
	n := 0
	for _, set := range []bool{e.apiKey != "", e.apiKeyFile != "", e.secretID != "", e.parameter != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return "", errors.New("set only one of MOMENTO_API_KEY, MOMENTO_API_KEY_FILE, MOMENTO_API_KEY_SECRET_ID and MOMENTO_API_KEY_PARAMETER")
	}
	switch {
	case e.apiKey != "":
		return e.apiKey, nil
	case e.apiKeyFile != "":
		return readKeyFile(e.apiKeyFile)
	case e.secretID != "":
		q := url.Values{"secretId": {e.secretID}}
		return e.fromExtension(ctx, client, "/secretsmanager/get?"+q.Encode(), "MOMENTO_API_KEY_SECRET_ID", func(b []byte) (string, error) {
			var out struct{ SecretString string }
			err := json.Unmarshal(b, &out)
			return out.SecretString, err
		})
	case e.parameter != "":
		q := url.Values{"name": {e.parameter}, "withDecryption": {"true"}}
		return e.fromExtension(ctx, client, "/systemsmanager/parameters/get?"+q.Encode(), "MOMENTO_API_KEY_PARAMETER", func(b []byte) (string, error) {
			var out struct{ Parameter struct{ Value string } }
			err := json.Unmarshal(b, &out)
			return out.Parameter.Value, err
		})
	}
	return "", nil
}

func readKeyFile(path string) (secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("MOMENTO_API_KEY_FILE: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAPIKeySize+1))
	if err != nil {
		return "", fmt.Errorf("MOMENTO_API_KEY_FILE: %w", err)
	}
	if len(b) > maxAPIKeySize {
		return "", errors.New("MOMENTO_API_KEY_FILE: file larger than 64 KiB")
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", errors.New("MOMENTO_API_KEY_FILE: file is empty")
	}
	return secret(key), nil
}

// fromExtension reads the key from the AWS Parameters and Secrets Lambda
// Extension on localhost, authenticated with AWS_SESSION_TOKEN.
func (e environment) fromExtension(ctx context.Context, client *http.Client, path, source string, decode func([]byte) (string, error)) (secret, error) {
	if e.sessionToken == "" {
		return "", fmt.Errorf("%s: AWS_SESSION_TOKEN is not set (the extension is only available in AWS Lambda)", source)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost:"+e.extensionPort+path, nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", source, err)
	}
	req.Header.Set("X-Aws-Parameters-Secrets-Token", string(e.sessionToken))
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: AWS Parameters and Secrets Lambda Extension unreachable (is its layer attached?): %w", source, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIKeySize+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", source, err)
	}
	if resp.StatusCode != http.StatusOK {
		// The body may describe the error; it never holds the secret.
		return "", fmt.Errorf("%s: extension answered %s", source, resp.Status)
	}
	if len(b) > maxAPIKeySize {
		return "", fmt.Errorf("%s: answer larger than 64 KiB", source)
	}
	v, err := decode(b)
	if err != nil {
		return "", fmt.Errorf("%s: unexpected answer from the extension", source)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("%s: the secret is empty", source)
	}
	return secret(v), nil
}

// momentoEndpoint returns the regional endpoint to use with a v2 API key:
// MOMENTO_ENDPOINT or momento.endpoint, which must agree when both are set.
func (e environment) momentoEndpoint(cfg *Config) (string, error) {
	c := cfg.Momento.Endpoint
	switch {
	case e.endpoint != "" && c != "" && e.endpoint != c:
		return "", configErrors{{key: "momento.endpoint", msg: "differs from MOMENTO_ENDPOINT: set one of them"}}
	case e.endpoint != "":
		return e.endpoint, nil
	}
	return c, nil
}

// keySource names where the API key comes from, for messages; "" when no
// source is set.
func (e environment) keySource() string {
	switch {
	case e.apiKey != "":
		return "MOMENTO_API_KEY"
	case e.apiKeyFile != "":
		return "MOMENTO_API_KEY_FILE"
	case e.secretID != "":
		return "MOMENTO_API_KEY_SECRET_ID (Secrets Manager)"
	case e.parameter != "":
		return "MOMENTO_API_KEY_PARAMETER (SSM)"
	}
	return ""
}

// describeMomento says, without network and never showing the key, where
// tokens would come from: the embedded emulator, or which kind of API key
// and which token endpoint. A key that cannot be used (a v2 key without an
// endpoint, an endpoint with a scheme, port or path, an unparseable key) is
// an error naming the variable. A key read from Secrets Manager or SSM at
// start-up is not read here.
func describeMomento(cfg *Config, env environment) (string, error) {
	src := env.keySource()
	switch {
	case cfg.Momento.Local && src != "":
		return "", configErrors{{key: "momento.local", msg: "true, but " + src + " is set in the environment: remove one of them"}}
	case cfg.Momento.Local:
		return "the embedded emulator (momento.local)", nil
	case src == "":
		return "no API key in the environment (MOMENTO_API_KEY, MOMENTO_API_KEY_FILE, MOMENTO_API_KEY_SECRET_ID, MOMENTO_API_KEY_PARAMETER): the server will not start without one", nil
	case env.secretID != "" || env.parameter != "":
		endpoint, err := env.momentoEndpoint(cfg)
		if err != nil {
			return "", err
		}
		if endpoint == "" {
			endpoint = "named by the key (v1), or none: a v2 key needs MOMENTO_ENDPOINT"
		}
		return "API key from " + src + ", read at start-up, not by check; endpoint " + endpoint, nil
	}
	key := env.apiKey
	if env.apiKeyFile != "" {
		k, err := readKeyFile(env.apiKeyFile)
		if err != nil {
			return "", err
		}
		key = k
	}
	v, err := momentoVendor(cfg, env, key, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	defer v.Close()
	return strings.TrimSuffix(strings.TrimPrefix(v.String(), "tvm.MomentoVendor{"), "}") + " (from " + src + ")", nil
}
