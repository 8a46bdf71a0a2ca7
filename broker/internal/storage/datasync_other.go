//go:build !linux

package storage

import "os"

// datasync makes f's data durable; without fdatasync(2) it is fsync.
func datasync(f *os.File) error { return f.Sync() }
