package echo

import (
	"bufio"
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
			cmd.Process.Kill()
			cmd.Wait()
			return "", "", nil, fmt.Errorf("echo: server process gave no address: %w", err)
		}
		f := strings.Fields(line) // "ADDR DRIVER"
		if len(f) < 1 {
			cmd.Process.Kill()
			cmd.Wait()
			return "", "", nil, fmt.Errorf("echo: server process printed %q", line)
		}
		drv := ""
		if len(f) > 1 {
			drv = f[1]
		}
		stop := func() error {
			stdin.Close()
			done := make(chan error, 1)
			go func() { io.Copy(io.Discard, stdout); done <- cmd.Wait() }()
			select {
			case err := <-done:
				return err
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				return <-done
			}
		}
		return f[0], drv, stop, nil
	}
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
	fmt.Fprintln(stdout, addr, drv)
	io.Copy(io.Discard, stdin)
	return stop()
}
