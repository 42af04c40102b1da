package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// kleidi is one plugin process ("one control-plane node"), started by the harness.
type kleidi struct {
	s       *suite
	name    string
	socket  string // bare absolute path; the config uses unix://<path>
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
}

func (s *suite) newKleidi(name, socket string) *kleidi {
	k := &kleidi{s: s, name: name, socket: socket, logPath: filepath.Join(s.opts.workDir, name+".log")}
	s.mu.Lock()
	s.procs = append(s.procs, k)
	s.mu.Unlock()
	return k
}

func (k *kleidi) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		// kleidi reads every KLEIDI_* variable as a setting and rejects unknown
		// ones; the test runner's own variables are not settings.
		if !strings.HasPrefix(kv, "KLEIDI_CONFORMANCE_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"CONFORMANCE_KLEIDI="+strings.Join(k.s.opts.kleidi, " "),
		"CONFORMANCE_BACKEND="+k.s.opts.backend,
		"CONFORMANCE_STATE_DIR="+k.s.stateDir)
	env = append(env, k.s.opts.env...)
	if k.name == "node-b" {
		// os/exec keeps the last value of a duplicated key: node-b's own settings win.
		env = append(env, k.s.opts.nodeBEnv...)
	}
	return env
}

func (k *kleidi) running() bool {
	if k.done == nil {
		return false
	}
	select {
	case <-k.done:
		return false
	default:
		return true
	}
}

// start runs `kleidi serve` and waits until Status answers healthz "ok".
func (k *kleidi) start() error {
	if err := k.spawn(); err != nil {
		return err
	}
	return k.waitReady(30 * time.Second)
}

// spawn starts `kleidi serve` without waiting for it to become ready.
func (k *kleidi) spawn() error {
	o := k.s.opts
	args := append(append([]string{}, o.kleidi[1:]...), "serve",
		"--backend", o.backend, "--socket", "unix://"+k.socket, "--state-dir", k.s.stateDir,
		"--refresh-interval", o.refresh,
		// Off: its default TCP port would collide between the two nodes on one
		// machine (and with anything else there); -serve-arg can turn it on.
		"--http-address", "")
	args = append(args, o.serveArgs...)
	logFile, err := os.OpenFile(k.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "\n--- conformance: starting %s %s\n", o.kleidi[0], strings.Join(args, " "))
	cmd := exec.Command(o.kleidi[0], args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = k.env(), logFile, logFile
	// Own process group (so kill() reaches children of a wrapper command), and
	// die with the harness even if the harness itself is SIGKILLed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", k.name, err)
	}
	k.cmd, k.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); logFile.Close(); close(done) }(k.done)
	return nil
}

func (k *kleidi) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if !k.running() {
			return fmt.Errorf("%s exited during startup (%s)\n%s", k.name, k.cmd.ProcessState, k.logTail())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := rawStatus(ctx, k.socket)
		cancel()
		if err == nil && st.Healthz == "ok" {
			return nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("healthz %q", st.Healthz)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v\n%s", k.name, limit, last, k.logTail())
}

// stop sends sig to kleidi and waits for it to exit; it returns the exit code
// (-1 when killed by a signal).
func (k *kleidi) stop(sig syscall.Signal, limit time.Duration) (int, error) {
	if !k.running() {
		return 0, fmt.Errorf("%s is not running", k.name)
	}
	// Signal the process itself, as the kubelet/container runtime does for PID 1.
	if err := k.cmd.Process.Signal(sig); err != nil {
		return 0, err
	}
	select {
	case <-k.done:
		return k.cmd.ProcessState.ExitCode(), nil
	case <-time.After(limit):
		k.kill()
		return 0, fmt.Errorf("%s did not exit within %v of %v\n%s", k.name, limit, sig, k.logTail())
	}
}

// kill SIGKILLs the whole process group and waits; used for cleanup.
func (k *kleidi) kill() {
	if !k.running() {
		return
	}
	_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-k.done:
	case <-time.After(5 * time.Second):
	}
}
