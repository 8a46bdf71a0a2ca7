package simulator

import (
	"os"
	"testing"

	"github.com/freshmart/platform/internal/pgtest"
)

// TestMain starts the Postgres cluster the real POS needs for pos.accepted.
func TestMain(m *testing.M) { os.Exit(pgtest.Start(m)) }
