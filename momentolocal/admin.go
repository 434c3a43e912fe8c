package momentolocal

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// maxAdminBody bounds an admin request body.
const maxAdminBody = 64 << 10

// faultJSON is the JSON form of a Fault for the admin endpoint.
type faultJSON struct {
	ID              int     `json:"id,omitempty"`
	Method          string  `json:"method,omitempty"`
	Latency         string  `json:"latency,omitempty"` // Go duration, e.g. "250ms"
	Code            string  `json:"code,omitempty"`    // gRPC code name ("UNAVAILABLE") or number
	Message         string  `json:"message,omitempty"`
	CloseConnection bool    `json:"closeConnection,omitempty"`
	Count           int     `json:"count,omitempty"`
	Fraction        float64 `json:"fraction,omitempty"`
	Remaining       int     `json:"remaining,omitempty"`
	Hits            int     `json:"hits"`
}

// codeNames maps gRPC code names, as in the gRPC spec, to codes.
var codeNames = map[string]codes.Code{
	"OK": codes.OK, "CANCELLED": codes.Canceled, "UNKNOWN": codes.Unknown,
	"INVALID_ARGUMENT": codes.InvalidArgument, "DEADLINE_EXCEEDED": codes.DeadlineExceeded,
	"NOT_FOUND": codes.NotFound, "ALREADY_EXISTS": codes.AlreadyExists,
	"PERMISSION_DENIED": codes.PermissionDenied, "RESOURCE_EXHAUSTED": codes.ResourceExhausted,
	"FAILED_PRECONDITION": codes.FailedPrecondition, "ABORTED": codes.Aborted,
	"OUT_OF_RANGE": codes.OutOfRange, "UNIMPLEMENTED": codes.Unimplemented,
	"INTERNAL": codes.Internal, "UNAVAILABLE": codes.Unavailable, "DATA_LOSS": codes.DataLoss,
	"UNAUTHENTICATED": codes.Unauthenticated,
}

func codeName(c codes.Code) string {
	for name, v := range codeNames {
		if v == c {
			return name
		}
	}
	return strconv.Itoa(int(c))
}

func parseCode(s string) (codes.Code, error) {
	if s == "" {
		return codes.OK, nil
	}
	if c, ok := codeNames[strings.ToUpper(strings.TrimSpace(s))]; ok {
		return c, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > int(codes.Unauthenticated) {
		return 0, fmt.Errorf("unknown gRPC status code %q", s)
	}
	return codes.Code(n), nil
}

// AdminHandler returns an HTTP handler to inspect and inject faults at run
// time, for a standalone emulator. Serve it on a loopback address only.
//
// Every request must carry "Authorization: Bearer <AdminSecret()>" (401
// otherwise). Requests from a non-loopback client, with a Host that does
// not name a loopback address or localhost, or carrying a header that
// proxies and tunnels add (Forwarded, X-Forwarded-*, X-Real-IP, Via,
// CF-Connecting-IP, ...) are refused with 403: a reverse proxy or tunnel
// on the same host connects from 127.0.0.1, so the peer address alone
// proves nothing. The secret is never logged or echoed.
//
//	GET    /faults              list the rules (JSON array)
//	POST   /faults              add a rule: {"method":"Publish","code":"UNAVAILABLE","count":3,
//	                            "fraction":0.5,"latency":"200ms","closeConnection":false,"message":"..."}
//	                            → 201 {"id": N}
//	DELETE /faults              remove every rule
//	DELETE /faults/{id}         remove one rule
//	POST   /connections/close   close every client connection → {"closed": N}
//	GET    /token-requests      the GenerateDisposableToken requests received (JSON array)
//
// Paths are relative to where the handler is mounted (use http.StripPrefix
// to mount it under a prefix).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		list := s.faults.List()
		out := make([]faultJSON, 0, len(list))
		for _, f := range list {
			j := faultJSON{ID: f.ID, Method: f.Method, Message: f.Message, CloseConnection: f.CloseConnection,
				Count: f.Count, Fraction: f.Fraction, Remaining: f.Remaining, Hits: f.Hits}
			if f.Latency > 0 {
				j.Latency = f.Latency.String()
			}
			if f.Code != codes.OK {
				j.Code = codeName(f.Code)
			}
			out = append(out, j)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var j faultJSON
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&j); err != nil {
			writeJSONError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
			return
		}
		if dec.More() {
			writeJSONError(w, http.StatusBadRequest, "invalid JSON: trailing data")
			return
		}
		f := Fault{Method: j.Method, Message: j.Message, CloseConnection: j.CloseConnection, Count: j.Count, Fraction: j.Fraction}
		var err error
		if j.Latency != "" {
			if f.Latency, err = time.ParseDuration(j.Latency); err != nil {
				writeJSONError(w, http.StatusBadRequest, "invalid latency: "+err.Error())
				return
			}
		}
		if f.Code, err = parseCode(j.Code); err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		id, err := s.faults.Add(f)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, map[string]int{"id": id})
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, _ *http.Request) {
		s.faults.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("id"))
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, "invalid id")
			return
		}
		if !s.faults.Remove(id) {
			writeJSONError(w, http.StatusNotFound, "no such fault")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /connections/close", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]int{"closed": s.faults.CloseConnections()})
	})
	mux.HandleFunc("GET /token-requests", func(w http.ResponseWriter, _ *http.Request) {
		reqs := s.TokenRequests()
		type tr struct {
			TokenID         string       `json:"tokenId"`
			ValidForSeconds int64        `json:"validForSeconds"`
			Permissions     []Permission `json:"permissions"`
		}
		out := make([]tr, len(reqs))
		for i, r := range reqs {
			out[i] = tr{r.TokenID, int64(r.ValidFor / time.Second), r.Permissions}
		}
		writeJSON(w, http.StatusOK, out)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if msg := refuseAdminRequest(r); msg != "" {
			writeJSONError(w, http.StatusForbidden, msg)
			return
		}
		if !s.adminAuthorized(r) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSONError(w, http.StatusUnauthorized, "the admin endpoint requires Authorization: Bearer <admin secret>")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// AdminSecret returns the secret that AdminHandler requires as a bearer
// token: Config.AdminSecret, or a random one chosen by Start. Print it for
// the person running a standalone emulator; never log it.
func (s *Server) AdminSecret() string { return s.adminSecret }

// forwardingHeaders are headers that reverse proxies, load balancers and
// tunnels add to what they forward (canonical form).
var forwardingHeaders = []string{
	"Forwarded", "Via", "X-Real-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "Cf-Ray",
	"X-Client-Ip", "X-Cluster-Client-Ip", "Fastly-Client-Ip", "X-Original-Forwarded-For",
}

// refuseAdminRequest returns why r may not reach the admin endpoint, or "".
func refuseAdminRequest(r *http.Request) string {
	if !isLoopback(r.RemoteAddr) {
		return "the admin endpoint only answers loopback clients"
	}
	if !isLoopbackHost(r.Host) {
		return "the admin endpoint only answers requests for a loopback Host"
	}
	for name := range r.Header {
		if strings.HasPrefix(name, "X-Forwarded-") || slices.Contains(forwardingHeaders, name) {
			return "the admin endpoint does not answer forwarded requests (" + name + ")"
		}
	}
	return ""
}

// adminAuthorized reports whether r carries the admin secret as a bearer
// token, comparing in constant time.
func (s *Server) adminAuthorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.adminSecret)) == 1
}

// isLoopbackHost reports whether a Host header names localhost or a
// loopback IP address, with or without a port.
func isLoopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
