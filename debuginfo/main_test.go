package debuginfo

import (
	"os"
	"testing"
)

// TestMain keeps the package's tests out of the user's build-id cache:
// the tests of the cache set WHYTHEFAIL_CACHE_DIR themselves.
func TestMain(m *testing.M) {
	os.Setenv("WHYTHEFAIL_CACHE", "off")
	os.Exit(m.Run())
}
