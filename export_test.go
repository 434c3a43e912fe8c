package tvm

import "golang.org/x/crypto/bcrypt"

// NewBasicMinCost is NewBasic accepting bcrypt hashes of the lowest cost
// (bcrypt.MinCost), for the tests of package tvm_test: NewBasic requires
// cost 10 or more, which costs about a second per comparison under the race
// detector. It exists in tests only.
func NewBasicMinCost(cfg BasicConfig) (*BasicAuthenticator, error) {
	return newBasic(cfg, bcrypt.MinCost)
}
