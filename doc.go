// Package gomsgr is the API of gomsgr, Ceph's AsyncMessenger rebuilt in Go:
// messages, dispatchers, policies, entity names and addresses, and the
// Messenger and Connection interfaces that both implementations satisfy.
//
// The event-loop messenger is built by conn.NewMessenger; the
// goroutine-per-connection messenger (Ceph's SimpleMessenger role) by
// simple.NewMessenger. Both return a Messenger, speak Ceph's msgr2 protocol
// (package msgr2) and pass the same test suite. This package imports neither,
// so code written against it can switch implementations with one line.
package gomsgr
