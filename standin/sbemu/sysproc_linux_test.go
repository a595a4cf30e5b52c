//go:build linux

package sbemu

import (
	"syscall"
	"testing"
)

// A Ctrl-C at a terminal signals the foreground process group; the emulator must not be in it, so
// that it outlives the signal until its owner stops it (after the host and the handler).
func TestTheEmulatorHasAProcessGroupOfItsOwn(t *testing.T) {
	e := StartT(t, Options{Queues: []Queue{{Name: "q"}}})
	pgid, err := syscall.Getpgid(e.PID())
	if err != nil {
		t.Fatal(err)
	}
	if pgid == syscall.Getpgrp() || pgid != e.PID() {
		t.Errorf("emulator pid %d is in process group %d; this process's group is %d", e.PID(), pgid, syscall.Getpgrp())
	}
}
