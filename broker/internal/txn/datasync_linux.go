//go:build linux

package txn

import (
	"os"
	"syscall"
)

// datasync flushes an append-only file's data and size (fdatasync).
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
