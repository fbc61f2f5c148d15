package uring

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gomsgr/gomsgr/driver"
)

// pollableDriver is a Driver whose ring fd wakes a goroutine parked on it.
type pollableDriver struct{ *Driver }

var _ driver.Pollable = pollableDriver{}

// Fd returns the ring fd, readable when completions are pending. Some may
// be internal, so a Wait after it may return 0 events.
func (p pollableDriver) Fd() int { return p.r.fd }

// user_data layout of our requests: kind (8 bits) | generation (24) | fd (32).
const (
	kindPoll   = 1 // the multishot POLL_ADD of an fd
	kindUpdate = 2 // a POLL_REMOVE that updates a poll's events
	kindRemove = 3 // a POLL_REMOVE that ends a poll

	genMask = 1<<24 - 1
)

func userData(kind uint64, gen uint32, fd int32) uint64 {
	return kind<<56 | uint64(gen&genMask)<<32 | uint64(uint32(fd))
}

// Poll bits (include/uapi/linux/eventpoll.h).
const (
	pollIn    = unix.POLLIN
	pollOut   = unix.POLLOUT
	pollErr   = unix.POLLERR
	pollHup   = unix.POLLHUP
	pollRdHup = unix.POLLRDHUP
)

// file is the driver's state for one fd number.
type file struct {
	gen   uint32      // registration generation, bumped by each Add from None
	mask  driver.Mask // interest; None when not registered
	armed bool        // a multishot poll for (fd, gen) may be live in the kernel
	// seq and idx merge the completions of one Wait call into one event:
	// when seq is the driver's current call, events[idx] is this fd's.
	seq uint32
	idx int32
}

// Driver is an io_uring instance in readiness mode, as returned by New. Like
// every driver.Driver it is owned by one goroutine.
type Driver struct {
	r     *ring
	opts  Options
	files []file // indexed by fd; grows, never shrinks
	seq   uint32 // Wait call counter, for merging events

	// Completion mode (complete_linux.go), with driver.Config.Completion.
	bufs  *bufRing            // the provided receive buffers
	comps []*compState        // indexed by fd
	done  []driver.Completion // reaped, not yet taken by Completions
}

// New creates an io_uring instance. It returns a *driver.UnsupportedError
// when the kernel refuses io_uring or lacks a feature the driver needs.
//
// The result implements driver.Pollable, except with opts.DeferTaskrun:
// completion work then runs only inside io_uring_enter, so nothing wakes a
// goroutine parked on the ring fd (drivertest's Pollable case times out),
// and the owner must block in Wait.
func New(cfg driver.Config, opts Options) (driver.Driver, error) {
	sq := pow2(opts.Entries, 1, 4096)
	if opts.Entries == 0 {
		sq = pow2(cfg.Events, 32, 4096)
	}
	cq := pow2(opts.CQEntries, 1, 65536)
	if opts.CQEntries == 0 {
		cq = pow2(max(4*cfg.Events, 2*int(sq)), 1, 65536)
	}
	cq = max(cq, sq)
	r, err := newRing(sq, cq, opts.setupFlags())
	if err != nil {
		return nil, setupFailed(err, opts.setupFlags())
	}
	const need = featNoDrop | featExtArg | featRsrcTags
	if r.features&need != need {
		err := unsupported(fmt.Errorf("kernel io_uring features %#x lack %#x (NODROP, EXT_ARG, 5.13 multishot poll)", r.features, need&^r.features))
		return nil, withCleanup(err, r.close())
	}
	d := &Driver{r: r, opts: opts, files: make([]file, max(cfg.Events, 64))}
	if cfg.Completion {
		if err := d.setupCompletion(opts); err != nil {
			return nil, withCleanup(err, d.Close())
		}
		switch {
		case opts.DeferTaskrun:
			return completerDriver{d}, nil
		default:
			return pollableCompleter{completerDriver{d}}, nil
		}
	}
	if opts.DeferTaskrun {
		return d, nil
	}
	return pollableDriver{d}, nil
}

// setupFailed classifies a newRing error: the kernel refusing io_uring
// (ENOSYS: not built in; EPERM: kernel.io_uring_disabled or a seccomp
// policy) or a setup flag it does not know (EINVAL with flags set) becomes a
// *driver.UnsupportedError.
func setupFailed(err error, flags uint32) error {
	if se, ok := err.(*setupError); ok {
		switch {
		case se.errno == unix.ENOSYS, se.errno == unix.EPERM:
			return unsupported(fmt.Errorf("%w%s", err, disabledReason()))
		case se.errno == unix.EINVAL && flags != 0:
			return unsupported(fmt.Errorf("setup flags %#x: %w", flags, err))
		}
	}
	return fmt.Errorf("uring: %w", err)
}

// setupFlags returns the io_uring_setup flags that o asks for.
func (o Options) setupFlags() uint32 {
	var f uint32
	if o.CoopTaskrun {
		f |= setupCoopTaskrun | setupTaskrunFlag
	}
	if o.SingleIssuer || o.DeferTaskrun {
		f |= setupSingleIssuer
	}
	if o.DeferTaskrun {
		f |= setupDeferTaskrun
	}
	return f
}

// pow2 rounds n up to a power of two within [lo, hi].
func pow2(n, lo, hi int) uint32 {
	n = min(max(n, lo), hi)
	p := 1
	for p < n {
		p <<= 1
	}
	return uint32(p)
}

func unsupported(err error) error {
	return &driver.UnsupportedError{Driver: Name, Err: err}
}

// withCleanup adds cerr, the error of undoing a failed setup, to err, the
// failure. A *driver.UnsupportedError stays one, with cerr joined to its
// reason, so that New and NewCompletion return the type they document.
func withCleanup(err, cerr error) error {
	if cerr == nil {
		return err
	}
	if u, ok := err.(*driver.UnsupportedError); ok {
		return &driver.UnsupportedError{Driver: u.Driver, Err: errors.Join(u.Err, cerr)}
	}
	return errors.Join(err, cerr)
}

// disabledReason reads kernel.io_uring_disabled for the error message.
func disabledReason() string {
	b, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled")
	if err != nil {
		return ""
	}
	return " (kernel.io_uring_disabled=" + strings.TrimSpace(string(b)) + ")"
}

// pollEvents converts an interest mask into poll32_events. POLLRDHUP rides
// with POLLIN so that a peer's shutdown wakes a reader; POLLERR and POLLHUP
// are always reported by the kernel.
func pollEvents(m driver.Mask) uint32 {
	var ev uint32
	if m&driver.Readable != 0 {
		ev |= pollIn | pollRdHup
	}
	if m&driver.Writable != 0 {
		ev |= pollOut
	}
	return ev
}

// file returns fd's entry, growing the table if needed.
func (d *Driver) file(fd int) (*file, error) {
	if fd < 0 || fd > 1<<31-1 {
		return nil, unix.EBADF
	}
	if fd >= len(d.files) {
		n := max(2*len(d.files), fd+1)
		files := make([]file, n)
		copy(files, d.files)
		d.files = files
	}
	return &d.files[fd], nil
}

// Add sets fd's interest to cur|add. A new registration (cur None) arms a
// multishot poll under a new generation; a change updates the poll's events.
func (d *Driver) Add(fd int, cur, add driver.Mask) error {
	if d.r == nil {
		return fmt.Errorf("uring: add fd %d: %w", fd, os.ErrClosed)
	}
	f, err := d.file(fd)
	if err != nil {
		return fmt.Errorf("uring: add fd %d: %w", fd, err)
	}
	m := (cur | add) & driver.ReadWrite
	if cur&driver.ReadWrite == driver.None || f.mask == driver.None {
		if f.mask != driver.None && f.armed {
			// The caller treats fd as new (it was closed and its number
			// reused without Del): end the old registration first.
			if err := d.queueRemove(fd, f); err != nil {
				return err
			}
		}
		f.gen = (f.gen + 1) & genMask
		f.mask = m
		if m == driver.None {
			return nil
		}
		return d.queueArm(fd, f)
	}
	return d.change(fd, f, m)
}

// Del sets fd's interest to cur&^del and ends fd's poll when nothing is left.
// Completions already queued for what was removed are dropped by Wait.
func (d *Driver) Del(fd int, cur, del driver.Mask) error {
	if d.r == nil {
		return fmt.Errorf("uring: del fd %d: %w", fd, os.ErrClosed)
	}
	if fd < 0 || fd >= len(d.files) || d.files[fd].mask == driver.None {
		return fmt.Errorf("uring: del fd %d: %w", fd, unix.ENOENT)
	}
	f := &d.files[fd]
	m := cur &^ del & driver.ReadWrite
	if m == driver.None {
		f.mask = driver.None
		if f.armed {
			return d.queueRemove(fd, f)
		}
		return nil
	}
	return d.change(fd, f, m)
}

// change moves a registered fd to interest m.
func (d *Driver) change(fd int, f *file, m driver.Mask) error {
	if m == f.mask && f.armed {
		return nil
	}
	f.mask = m
	if !f.armed {
		return d.queueArm(fd, f)
	}
	s, err := d.r.getSQE()
	if err != nil {
		return fmt.Errorf("uring: change fd %d to %v: %w", fd, m, err)
	}
	// If the poll has already ended (its last CQE not reaped yet), the
	// update fails with ENOENT and reaping that last CQE re-arms the poll
	// with the interest in f at that time, which is m.
	s.opcode = opPollRemove
	s.fd = -1
	s.addr = userData(kindPoll, f.gen, int32(fd))
	s.len = pollUpdateEvents | pollAddMulti
	s.opFlags = pollEvents(m)
	s.userData = userData(kindUpdate, f.gen, int32(fd))
	return nil
}

// queueArm queues a multishot POLL_ADD for fd's current registration.
func (d *Driver) queueArm(fd int, f *file) error {
	s, err := d.r.getSQE()
	if err != nil {
		return fmt.Errorf("uring: arm fd %d: %w", fd, err)
	}
	s.opcode = opPollAdd
	s.fd = int32(fd)
	s.len = pollAddMulti // edge-triggered: no IORING_POLL_ADD_LEVEL
	s.opFlags = pollEvents(f.mask)
	s.userData = userData(kindPoll, f.gen, int32(fd))
	f.armed = true
	return nil
}

// queueRemove queues the end of fd's current poll.
func (d *Driver) queueRemove(fd int, f *file) error {
	s, err := d.r.getSQE()
	if err != nil {
		return fmt.Errorf("uring: remove fd %d: %w", fd, err)
	}
	s.opcode = opPollRemove
	s.fd = -1
	s.addr = userData(kindPoll, f.gen, int32(fd))
	s.userData = userData(kindRemove, f.gen, int32(fd))
	f.armed = false
	return nil
}

// Close closes the ring; the kernel cancels the polls still armed.
// Registered fds are not closed.
func (d *Driver) Close() error {
	if d.r == nil {
		return nil
	}
	err := d.r.close()
	d.r = nil
	if err != nil {
		err = fmt.Errorf("uring: %w", os.NewSyscallError("close", err))
	}
	return errors.Join(append(d.closeCompletion(), err)...)
}

// Name returns "uring".
func (d *Driver) Name() string { return Name }
