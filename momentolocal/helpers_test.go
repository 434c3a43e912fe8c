package momentolocal_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// port returns the port of a "host:port" address.
func port(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}
