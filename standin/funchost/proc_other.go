//go:build !linux

package funchost

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttrs has nothing portable to set: the process-group and parent-death
// guarantees exist on Linux only, where the handler is meant to run.
func setProcAttrs(cmd *exec.Cmd) {}

// signalGroup signals the handler itself; Kill is the fallback where a signal
// cannot be delivered (Windows has no SIGTERM).
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if err := p.Signal(sig); err != nil {
		return p.Kill()
	}
	return nil
}

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
