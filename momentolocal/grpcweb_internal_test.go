package momentolocal

import (
	"testing"
	"time"
)

// TestParseGrpcTimeout: the grpc-timeout header's units, and values that
// would overflow a time.Duration, which are ignored (no deadline) rather
// than wrapped into a deadline already passed.
func TestParseGrpcTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1500m", 1500 * time.Millisecond, true},
		{"5S", 5 * time.Second, true},
		{"2H", 2 * time.Hour, true},
		{"100u", 100 * time.Microsecond, true},
		{"7n", 7, true},
		{"99999999H", 0, false}, // 11,415 years: more than a Duration holds
		{"99999999M", 99999999 * time.Minute, true},
		{"", 0, false},
		{"5", 0, false},
		{"-5S", 0, false},
		{"5x", 0, false},
		{"1234567890S", 0, false}, // more than 8 digits
	}
	for _, tt := range tests {
		got, ok := parseGrpcTimeout(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseGrpcTimeout(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
