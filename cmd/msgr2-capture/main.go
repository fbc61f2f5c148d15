// Command msgr2-capture is a recording TCP proxy for msgr2 golden tests.
//
// It listens on -listen, forwards every accepted connection to -target and
// writes the bytes of each direction to <dir>/connN-c2s.bin and
// <dir>/connN-s2c.bin. Point a Ceph client (e.g. `ceph -c conf mon stat`,
// with `mon host = v2:<listen>`) at it to capture a real exchange.
//
// With -client it is instead a small msgr2 client built on package msgr2
// that runs a session against -target and records it to own-c2s.bin and
// own-s2c.bin, to check our encoders against a real daemon.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"sync"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:13310", "address to listen on")
	target := flag.String("target", "127.0.0.1:13300", "msgr2 address of the ceph-mon")
	dir := flag.String("dir", ".", "directory for the capture files")
	max := flag.Int("conns", 1, "stop after this many connections")
	client := flag.Bool("client", false, "instead of proxying, connect to -target as a msgr2 client built on package msgr2 and record the exchange")
	advertised := flag.String("advertised", "127.0.0.1:13310", "with -client: the mon's advertised v2 address (CLIENT_IDENT target)")
	fsid := flag.String("fsid", "", "with -client: the cluster fsid for MMonCommand")
	rev0 := flag.Bool("rev0", false, "with -client: offer no REVISION_1 (msgr2.0 framing)")
	flag.Parse()

	if *client {
		if err := runClient(*target, *advertised, *fsid, *dir, *rev0); err != nil {
			log.Fatal(err)
		}
		return
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < *max; i++ {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		wg.Add(1)
		go func(n int, c net.Conn) {
			defer wg.Done()
			if err := proxy(n, c, *target, *dir); err != nil {
				log.Printf("conn%d: %v", n, err)
			}
		}(i, c)
	}
	wg.Wait()
}

func proxy(n int, c net.Conn, target, dir string) (err error) {
	defer closeJoin(&err, c)
	s, err := net.Dial("tcp", target)
	if err != nil {
		return err
	}
	defer closeJoin(&err, s)
	c2s, err := os.Create(filepath.Join(dir, fmt.Sprintf("conn%d-c2s.bin", n)))
	if err != nil {
		return err
	}
	defer closeJoin(&err, c2s)
	s2c, err := os.Create(filepath.Join(dir, fmt.Sprintf("conn%d-s2c.bin", n)))
	if err != nil {
		return err
	}
	defer closeJoin(&err, s2c)
	done := make(chan error, 2)
	// pipe copies one direction until its source ends, then passes the
	// end on (a half close); the copy's error says whether the capture
	// is whole.
	pipe := func(dst net.Conn, src net.Conn, rec io.Writer) {
		_, err := io.Copy(io.MultiWriter(dst, rec), src)
		if tc, ok := dst.(*net.TCPConn); ok {
			err = errors.Join(err, tc.CloseWrite())
		}
		done <- err
	}
	go pipe(s, c, c2s)
	go pipe(c, s, s2c)
	return errors.Join(<-done, <-done)
}
