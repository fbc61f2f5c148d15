package echo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ChildServe returns a ServeFunc that runs each target's server in a child
// process, `exe echo-server -target NAME`, pinned to cpu with taskset when
// cpu >= 0 and taskset exists, with GOMAXPROCS set to procs when positive.
// The child prints its address on its first line of output and serves until
// its standard input closes.
func ChildServe(exe string, cpu, procs int) ServeFunc {
	return func(tg Target) (string, string, func() error, error) {
		args := []string{exe, "echo-server", "-target", tg.Name}
		if cpu >= 0 {
			if ts, err := exec.LookPath("taskset"); err == nil {
				args = append([]string{ts, "-c", strconv.Itoa(cpu)}, args...)
			}
		}
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = os.Environ()
		if procs > 0 {
			cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(procs))
		}
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return "", "", nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return "", "", nil, err
		}
		if err := cmd.Start(); err != nil {
			return "", "", nil, fmt.Errorf("echo: start server process: %w", err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			killWait(cmd)
			return "", "", nil, fmt.Errorf("echo: server process gave no address: %w", err)
		}
		f := strings.Fields(line) // "ADDR DRIVER"
		if len(f) < 1 {
			killWait(cmd)
			return "", "", nil, fmt.Errorf("echo: server process printed %q", line)
		}
		drv := ""
		if len(f) > 1 {
			drv = f[1]
		}
		stop := func() error {
			cerr := stdin.Close() // the child's signal to stop
			done := make(chan error, 1)
			go func() {
				// Drain until the child exits: Wait tells how it ended.
				_, _ = io.Copy(io.Discard, stdout)
				done <- cmd.Wait()
			}()
			select {
			case err := <-done:
				return errors.Join(cerr, err)
			case <-time.After(10 * time.Second):
				// Kill fails only if the child has just exited; Wait
				// (in done) reports either way.
				_ = cmd.Process.Kill()
				return errors.Join(cerr, <-done)
			}
		}
		return f[0], drv, stop, nil
	}
}

// killWait ends a child that did not start serving and reaps it. Its
// errors say only that the child was killed, or had exited already: the
// caller reports why it gave up instead.
func killWait(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// RunChild is the body of `echo-server`: serve tg, print "ADDR DRIVER",
// and stop when stdin closes.
func RunChild(tg Target, stdin io.Reader, stdout io.Writer) error {
	addr, drv, stop, err := Serve(tg)
	if err != nil {
		return err
	}
	if drv == "" {
		drv = "std"
	}
	if _, err := fmt.Fprintln(stdout, addr, drv); err != nil {
		return errors.Join(fmt.Errorf("echo: announce address: %w", err), stop())
	}
	// Serve until stdin ends: EOF or a read error, either is the signal.
	_, _ = io.Copy(io.Discard, stdin)
	return stop()
}
