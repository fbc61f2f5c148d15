// Command gomsgr-ceph talks to a real Ceph monitor through gomsgr (msgr2,
// crc mode, cephx or auth none), like a tiny `ceph` CLI:
//
//	gomsgr-ceph -c /etc/ceph/ceph.conf -n client.admin version
//	gomsgr-ceph -m 127.0.0.1:3300 -k ceph.client.admin.keyring version
//	gomsgr-ceph -m 127.0.0.1:3300 command '{"prefix": "status"}'
//	gomsgr-ceph -m 127.0.0.1:3300 command '{"prefix": "config-key set", "key": "k"}' -i value.txt
//	gomsgr-ceph -m 127.0.0.1:3300 get-version osdmap
//	gomsgr-ceph -c /etc/ceph/ceph.conf tell osd.0 '{"prefix": "version"}'
//	gomsgr-ceph -m 127.0.0.1:3300 bench -c 8 -d 5s
//	gomsgr-ceph -throwaway compare -c 1,8 -d 2s -rounds 3
//
// -m is the mon's msgr2 address as the monmap advertises it (default
// $GOMSGR_MON, else 127.0.0.1:3300, or mon_host of the ceph.conf given
// with -c). -n names the entity to authenticate as (client.admin), -k its
// keyring; without -k the conf's keyring and then Ceph's default paths are
// tried, and when there is no keyring at all the client uses auth none. -throwaway starts a single mon of its
// own for the run (it installs the Ceph packages when run as root and they
// are missing) and stops it at the end. command prints the output on stdout
// and the status on stderr, and exits 1 with "Error EINVAL: ..." when the mon
// answers with an error, as the ceph CLI does. bench runs mon commands from
// -c goroutines over one session and prints commands/s and latency
// percentiles; compare runs the same load through gomsgr (epoll and
// io_uring) and through librados (python3-rados, Rados.mon_command, with the
// same number of threads) against the same mon, and prints the ratios.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gomsgr/gomsgr/auth"
	"github.com/gomsgr/gomsgr/cephx"
	_ "github.com/gomsgr/gomsgr/driver/uring" // registers "uring" for -driver uring
	"github.com/gomsgr/gomsgr/internal/cephtest"
	"github.com/gomsgr/gomsgr/monc"
	"github.com/gomsgr/gomsgr/msgr2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: gomsgr-ceph [flags] SUBCOMMAND [args]

subcommands:
  version                      the mon's version ("ceph version ...")
  get-version MAP              latest and oldest version of a map (osdmap, monmap, mgrmap, ...)
  command JSON [-i FILE]       a mon command; output on stdout, status on stderr
  tell osd.N JSON              a command for an OSD (with cephx, on the mon's OSD ticket)
  bench [-c N] [-d DUR] [-cmd JSON]         mon commands/s and latency through gomsgr
  compare [-c N,M] [-d DUR] [-rounds R] [-cmd JSON]   the same through gomsgr epoll, io_uring and librados

flags:
`

// globals are the flags before the subcommand.
type globals struct {
	mon        string
	monSet     bool // -m given
	name       string
	keyring    string
	keyPath    string // the keyring file the key came from ("" for auth none)
	conf       string
	throwCephx bool
	driver     string
	timeout    time.Duration
	spin       time.Duration
	fsid       string
	rev0       bool
	throwaway  bool
	verbose    bool
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	var g globals
	fs := flag.NewFlagSet("gomsgr-ceph", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	def := os.Getenv("GOMSGR_MON")
	if def == "" {
		def = "127.0.0.1:3300"
	}
	fs.StringVar(&g.mon, "m", def, "the mon's msgr2 address (host:port, as advertised in its monmap)")
	fs.StringVar(&g.driver, "driver", "epoll", "event-loop driver: epoll or uring")
	fs.DurationVar(&g.timeout, "timeout", 10*time.Second, "how long to wait for the session and each answer")
	fs.DurationVar(&g.spin, "spin", 0, "event-loop spin before a worker sleeps (0: the center's default; negative: none)")
	fs.StringVar(&g.fsid, "fsid", "", "cluster fsid (default: learned from the mon's monmap)")
	fs.BoolVar(&g.rev0, "msgr2.0", false, "offer msgr2.0 framing only (no REVISION_1)")
	fs.BoolVar(&g.throwaway, "throwaway", false, "start a throwaway single mon on 127.0.0.1 for this run (ignores -m)")
	fs.BoolVar(&g.verbose, "v", false, "print session details on stderr")
	fs.StringVar(&g.name, "n", "client.admin", "the entity to authenticate as (cephx)")
	fs.StringVar(&g.keyring, "k", "", "keyring with the entity's key; default: ceph.conf's keyring, then Ceph's default paths (/etc/ceph/ceph.NAME.keyring, ...); no keyring found means auth none")
	fs.StringVar(&g.conf, "c", "", "ceph.conf to read mon_host, fsid and keyring from (-m, -fsid and -k override it)")
	fs.BoolVar(&g.throwCephx, "throwaway-cephx", false, "with -throwaway: the mon requires cephx (and -k defaults to its keyring)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fs.Visit(func(f *flag.Flag) { g.monSet = g.monSet || f.Name == "m" })
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if g.throwaway {
		lctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		var opts []cephtest.Option
		if g.throwCephx {
			opts = append(opts, cephtest.Cephx())
		}
		mon, err := cephtest.Launch(lctx, opts...)
		cancel()
		if err != nil {
			fmt.Fprintln(stderr, "gomsgr-ceph:", err)
			return 1
		}
		defer func() {
			if err := mon.Close(); err != nil {
				fmt.Fprintln(stderr, "gomsgr-ceph: stop the throwaway mon:", err)
				code = max(code, 1)
			}
		}()
		g.mon, g.monSet = mon.V2Addr(), true
		if g.throwCephx && g.keyring == "" {
			g.keyring = mon.KeyringPath()
		}
		fmt.Fprintf(stderr, "gomsgr-ceph: throwaway mon.a at v2:%s (fsid %s, conf %s)\n", mon.V2Addr(), mon.FSID(), mon.ConfPath())
	}
	err := subcommand(ctx, &g, fs.Arg(0), fs.Args()[1:], stdout, stderr)
	var cerr *monc.CommandError
	switch {
	case errors.As(err, &cerr):
		fmt.Fprintf(stderr, "Error %s: %s\n", errnoName(cerr.Rc), cerr.Status)
		return 1
	case errors.Is(err, errUsage):
		fs.Usage()
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "gomsgr-ceph:", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func (g *globals) options() (monc.Options, error) {
	var conf monc.Conf
	if g.conf != "" {
		var err error
		if conf, err = monc.ReadConf(g.conf, g.name); err != nil {
			return monc.Options{}, err
		}
	}
	var ap netip.AddrPort
	var err error
	if g.conf != "" && !g.monSet {
		ap, err = conf.MonAddr()
	} else if ap, err = netip.ParseAddrPort(g.mon); err != nil {
		err = fmt.Errorf("-m %q: %w", g.mon, err)
	}
	if err != nil {
		return monc.Options{}, err
	}
	o := monc.Options{Addr: ap, Driver: g.driver, ReadyTimeout: g.timeout, NoRevision1: g.rev0, Spin: g.spin, Name: g.name}
	k, implicit, err := g.key(conf)
	switch {
	case err != nil:
		return o, err
	case k != nil && implicit:
		// A key found at a default path may belong to another cluster:
		// fall back to auth none if the mon allows only that.
		o.Auth = &auth.Config{Name: g.name, Key: k, ClientMethods: []msgr2.AuthMethod{auth.Cephx, auth.None}}
	case k != nil:
		o.Key = k
	}
	if g.fsid == "" && conf.FSID != (msgr2.UUID{}) {
		o.FSID = conf.FSID
	}
	if g.fsid != "" {
		if o.FSID, err = msgr2.ParseUUID(g.fsid); err != nil {
			return o, fmt.Errorf("-fsid: %w", err)
		}
	}
	return o, nil
}

// key finds the entity's key: -k, else the conf's keyring, else Ceph's
// default paths (implicit); nil (auth none) when no keyring exists and
// none was named.
func (g *globals) key(conf monc.Conf) (_ *cephx.Key, implicit bool, _ error) {
	explicit := g.keyring
	if explicit == "" {
		explicit = conf.Keyring
	}
	k, path, err := monc.FindKey(explicit, g.name)
	switch {
	case err == nil:
		g.keyPath = path
		return &k, explicit == "", nil
	case explicit == "" && errors.Is(err, monc.ErrNoKeyring):
		return nil, false, nil
	}
	return nil, false, err
}

func (g *globals) dial(ctx context.Context) (*monc.Client, error) {
	o, err := g.options()
	if err != nil {
		return nil, err
	}
	// The client's own ready timeout (g.timeout) ends a failed dial with
	// its cause; the context is only a backstop.
	dctx, cancel := context.WithTimeout(ctx, 2*g.timeout)
	defer cancel()
	return monc.Dial(dctx, o)
}

func subcommand(ctx context.Context, g *globals, name string, args []string, stdout, stderr io.Writer) (err error) {
	switch name {
	case "bench":
		return benchCmd(ctx, g, args, stdout)
	case "compare":
		return compareCmd(ctx, g, args, stdout, stderr)
	case "version":
		if len(args) != 0 {
			return errUsage
		}
	case "get-version":
		if len(args) != 1 {
			return errUsage
		}
	case "command":
		if len(args) == 0 {
			return errUsage
		}
	case "tell":
		if len(args) != 2 {
			return errUsage
		}
		if _, err := osdTarget(args[0]); err != nil {
			fmt.Fprintf(stderr, "gomsgr-ceph: tell: %v\n", err)
			return errUsage
		}
	default:
		fmt.Fprintf(stderr, "gomsgr-ceph: unknown subcommand %q\n", name)
		return errUsage
	}
	c, err := g.dial(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	if g.verbose {
		fsid, epoch := c.FSID()
		fmt.Fprintf(stderr, "session with mon at %s (driver %s), fsid %v, monmap epoch %d\n", g.mon, c.Driver(), fsid, epoch)
	}
	rctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	switch name {
	case "version":
		v, err := c.Version(rctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, v)
	case "get-version":
		v, oldest, err := c.GetVersion(rctx, args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s version %d (oldest %d)\n", args[0], v, oldest)
	case "command":
		return commandCmd(rctx, c, args, stdout, stderr)
	case "tell":
		return tellCmd(rctx, c, args, stdout, stderr)
	}
	return nil
}

// tellCmd runs `tell osd.N JSON`: a command for an OSD, reached with the
// mon's ticket (authorizer mode).
func tellCmd(ctx context.Context, c *monc.Client, args []string, stdout, stderr io.Writer) error {
	id, err := osdTarget(args[0])
	if err != nil {
		return err
	}
	r, err := c.TellOSD(ctx, id, args[1])
	if err != nil {
		return err
	}
	return printReply(r, stdout, stderr)
}

func commandCmd(ctx context.Context, c *monc.Client, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	cmd := args[0]
	fs := flag.NewFlagSet("command", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("i", "", "input file for the command (Ceph's -i; - for stdin)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
		return errUsage
	}
	var inbuf []byte
	if *in != "" {
		var err error
		if *in == "-" {
			inbuf, err = io.ReadAll(os.Stdin)
		} else {
			inbuf, err = os.ReadFile(*in)
		}
		if err != nil {
			return err
		}
	}
	r, err := c.CommandInput(ctx, cmd, inbuf)
	if err != nil {
		return err
	}
	return printReply(r, stdout, stderr)
}

// osdTarget parses "osd.N".
func osdTarget(s string) (int, error) {
	idText, ok := strings.CutPrefix(s, "osd.")
	id, err := strconv.Atoi(idText)
	if !ok || err != nil || id < 0 {
		return 0, fmt.Errorf("target %q: want osd.N", s)
	}
	return id, nil
}

// printReply prints a command's output on stdout and its status on
// stderr, or returns its error, as the ceph CLI does.
func printReply(r monc.CommandReply, stdout, stderr io.Writer) error {
	if err := r.Err(); err != nil {
		return err
	}
	if _, err := stdout.Write(r.Output); err != nil {
		return err
	}
	if len(r.Output) > 0 && r.Output[len(r.Output)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	if r.Status != "" {
		fmt.Fprintln(stderr, r.Status)
	}
	return nil
}

// errnoName spells a negative errno as the ceph CLI does (EINVAL).
func errnoName(rc int32) string {
	names := map[syscall.Errno]string{
		syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.EIO: "EIO", syscall.EAGAIN: "EAGAIN",
		syscall.EACCES: "EACCES", syscall.EBUSY: "EBUSY", syscall.EEXIST: "EEXIST", syscall.EINVAL: "EINVAL",
		syscall.ENOSPC: "ENOSPC", syscall.ERANGE: "ERANGE", syscall.ENOSYS: "ENOSYS",
		syscall.EOPNOTSUPP: "EOPNOTSUPP", syscall.ETIMEDOUT: "ETIMEDOUT",
	}
	if n, ok := names[syscall.Errno(-rc)]; ok {
		return n
	}
	return strings.ToUpper(fmt.Sprintf("errno%d", -rc))
}
