//go:build linux

package sbemu

import "syscall"

// sysProcAttr asks the kernel to kill the emulator if this process dies without calling Close
// (for example a test binary killed by a timeout), so no node process is left behind. The
// emulator gets a process group of its own: a Ctrl-C at a terminal signals the whole foreground
// group, and the emulator must not die before its owner has stopped what still talks to it (the
// host stand-in draining the handler's in-flight invocations, which send to it); its owner stops it
// last, with Close or by cancelling Start's context.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
