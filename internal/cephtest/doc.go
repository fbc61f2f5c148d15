// Package cephtest starts a real, throwaway, single ceph-mon on 127.0.0.1
// for tests that must talk to Ceph itself rather than to a mock.
//
// StartMon creates a temporary directory with a ceph.conf (auth none, or
// cephx with keyrings from ceph-authtool when given Cephx(); crc
// mode for every connection type), a monmap holding one monitor "a" on two
// free loopback ports (msgr2 and msgr1), runs ceph-mon --mkfs and then
// ceph-mon in the foreground under exec.Cmd, in its own process group, and
// waits until `ceph mon stat` answers. The test's cleanup stops exactly that
// process by its PID (SIGTERM, then SIGKILL after StopTimeout). Start-up
// takes well under a second. The mon's data directory survives Stop and Kill,
// so Restart brings the same monitor (same fsid, same ports) back.
//
// The Debian packages ceph-mon, ceph-common and ceph-osd provide the binaries
// (ceph-mon, monmaptool, ceph, ceph-authtool, ceph-osd). Install looks for them and, when they are
// missing and the process runs as root, installs them with apt-get, once per
// process and under a file lock shared by parallel test binaries. When they
// are missing and the process is not root, Install returns an error saying
// how to install them; StartMon and Ensure fail the test with it (they never
// skip).
//
// StartOSD adds a ceph-osd on a memstore to a Cephx mon's cluster, for
// clients that reach an OSD with the mon's tickets (authorizer mode).
//
// Launch is the same without a testing.TB, for programs (a main package)
// that want a mon; Close stops it and removes its directory.
//
// scripts/ceph-mon.sh does the same from a shell for trying things by hand.
//
// The package needs Linux. Elsewhere it builds, and starting a mon or taking
// the install lock returns an error wrapping errors.ErrUnsupported.
package cephtest
