// Package testenv sets up what tests of several packages need and no user
// does: a throwaway certificate authority with a server certificate, a
// private mount namespace in which test host names resolve to loopback
// (so that an SDK dialling token.<endpoint>:443 reaches a local server),
// test clocks and a concurrency-safe log buffer.
package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// CA is a certificate authority and one server certificate it signed, as
// PEM files in Dir.
type CA struct {
	Dir string
	// CAFile is the CA certificate, for SSL_CERT_FILE (Go),
	// NODE_EXTRA_CA_CERTS and GRPC_DEFAULT_SSL_ROOTS_FILE_PATH (Node).
	CAFile string
	// CertFile and KeyFile are the server certificate and its key.
	CertFile, KeyFile string
}

// NewCA makes a CA and a server certificate, both valid for an hour, for
// 127.0.0.1, ::1, localhost and names.
func NewCA(t testing.TB, names ...string) *CA {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tvm test CA"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	caCert, err := x509.ParseCertificate(caDER)
	must(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	cn := "localhost"
	if len(names) > 0 {
		cn = names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     append([]string{"localhost"}, names...),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	must(err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(err)
	ca := &CA{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	write := func(name, typ string, b []byte) {
		must(os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600))
	}
	write(ca.CAFile, "CERTIFICATE", caDER)
	write(ca.CertFile, "CERTIFICATE", der)
	write(ca.KeyFile, "EC PRIVATE KEY", keyDER)
	return ca
}

// ServerTLS loads the server certificate of the CA in dir (as written by
// NewCA), for a server's tls.Config.
func ServerTLS(t testing.TB, dir string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// Hosts writes an /etc/hosts mapping names to 127.0.0.1 and reports
// whether a command can run with it in a private mount namespace
// (`unshare -m`, which needs root; see InNamespace). Without one the
// caller skips its host-name test, except under CI=true, where Hosts
// fails the test.
func Hosts(t testing.TB, names ...string) (string, bool) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err == nil {
		err = exec.Command(unshare, "-m", "-n", "--propagation", "private", "true").Run()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("unshare -m -n is needed for the tests over TLS with host names: %v", err)
		}
		t.Logf("unshare -m -n does not work here (%v): skipping the host-name tests (under CI=true this fails)", err)
		return "", false
	}
	hosts := filepath.Join(t.TempDir(), "hosts")
	content := "127.0.0.1 localhost\n::1 localhost\n127.0.0.1 " + strings.Join(names, " ") + "\n"
	if err := os.WriteFile(hosts, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return hosts, true
}

// InNamespace returns a command running name with args in a private mount
// namespace where hosts (from Hosts) is /etc/hosts. With newNet it also
// gets a network namespace of its own whose loopback is up, so that it can
// listen on any port (443) without meeting the machine's services.
func InNamespace(ctx context.Context, hosts string, newNet bool, name string, args ...string) *exec.Cmd {
	script := `mount --bind "$0" /etc/hosts && exec "$@"`
	flags := []string{"-m", "--propagation", "private"}
	if newNet {
		script = `ip link set lo up && ` + script
		flags = append(flags, "-n")
	}
	return exec.CommandContext(ctx, "unshare", append(append(flags, "sh", "-c", script, hosts, name), args...)...)
}
