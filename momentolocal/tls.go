package momentolocal

import (
	"crypto/tls"
	"slices"
)

// serverTLSConfig returns the TLS configuration the emulator serves with:
// user's, with the ALPN protocol chosen per client. Native gRPC clients
// (client-sdk-go, @grpc/grpc-js) offer only "h2" and require it; browsers
// offer "h2" and "http/1.1" and are given "http/1.1", because the emulator
// serves gRPC-Web over HTTP/1.1 only. Clients offering no ALPN (Node's
// https module) negotiate none and are routed by what they send.
func serverTLSConfig(user *tls.Config) *tls.Config {
	base := user.Clone()
	hook := base.GetConfigForClient
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base
		if hook != nil {
			uc, err := hook(hello)
			if err != nil {
				return nil, err
			}
			if uc != nil {
				c = uc
			}
		}
		c = c.Clone()
		c.GetConfigForClient = nil
		if slices.Contains(hello.SupportedProtos, "http/1.1") {
			c.NextProtos = []string{"http/1.1"}
		} else {
			c.NextProtos = []string{"h2"}
		}
		return c, nil
	}
	return base
}
