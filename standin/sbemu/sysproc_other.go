//go:build !linux

package sbemu

import "syscall"

// sysProcAttr has nothing to add outside Linux: there, the emulator relies on its stdin closing
// (SBEMU_EXIT_ON_STDIN_CLOSE) and its maximum lifetime to exit after its parent.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
