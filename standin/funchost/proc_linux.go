//go:build linux

package funchost

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttrs puts the handler in its own process group, so a signal reaches
// anything it spawned, and asks the kernel to SIGKILL it if the stand-in dies
// first, so no handler outlives a crashed or killed host.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the handler's whole process group.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		return p.Signal(sig)
	}
	return nil
}

// exitCode reports a signal death as 128+signal, the code .NET's Process.ExitCode
// reports for it on Linux (so a SIGKILL reads 137, a non-zero exit).
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
