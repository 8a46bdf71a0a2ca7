package storage

import (
	"errors"
	"os"
	"syscall"
)

// datasync makes f's data durable with fdatasync(2). For an append-only
// segment it is as strong as fsync: fdatasync also flushes the metadata
// needed to read the data back (the file size), and skips only timestamps.
// New files are covered by the directory fsync that precedes their
// acknowledgement.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
