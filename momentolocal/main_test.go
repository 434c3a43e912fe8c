package momentolocal_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: Close
// must stop everything the emulator started.
//
// One exception, outside the emulator: momento.AuthClient.Close in
// client-sdk-go v1.38.0 closes only one of its two gRPC client connections;
// the other, never dialed, keeps its grpc-go callback-serializer goroutines
// forever. Those (and only those) are ignored. A connection that was used
// would also leave transport goroutines, which are still reported.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}
