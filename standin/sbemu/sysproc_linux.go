//go:build linux

package sbemu

import "syscall"

// sysProcAttr asks the kernel to kill the emulator if this process dies without calling Close
// (for example a test binary killed by a timeout), so no node process is left behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
