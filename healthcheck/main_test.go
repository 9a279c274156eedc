package healthcheck_test

import (
	"testing"

	"directord/internal/vmtest"
)

// The keepalived comparison benchmark runs inside a guest kernel, since
// keepalived's checker needs IPVS.
func TestMain(m *testing.M) { vmtest.Main(m) }
