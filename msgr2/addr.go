package msgr2

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"
)

// EntityType is a Ceph entity type (CEPH_ENTITY_TYPE_*).
type EntityType uint8

// Entity types.
const (
	EntityMon    EntityType = 0x01
	EntityMDS    EntityType = 0x02
	EntityOSD    EntityType = 0x04
	EntityClient EntityType = 0x08
	EntityMgr    EntityType = 0x10
	EntityAuth   EntityType = 0x20
	EntityAny    EntityType = 0xff
)

// String returns Ceph's name for the type.
func (t EntityType) String() string {
	switch t {
	case EntityMon:
		return "mon"
	case EntityMDS:
		return "mds"
	case EntityOSD:
		return "osd"
	case EntityClient:
		return "client"
	case EntityMgr:
		return "mgr"
	case EntityAuth:
		return "auth"
	case EntityAny:
		return "any"
	}
	return "unknown(" + itoa(int(t)) + ")"
}

// EntityName is Ceph's entity_name_t: a type and a number (osd.3,
// client.4123); a negative number means "new".
type EntityName struct {
	Type EntityType
	Num  int64
}

// String formats the name as Ceph does ("osd.3", "client.?").
func (n EntityName) String() string {
	if n.Num < 0 {
		return n.Type.String() + ".?"
	}
	return n.Type.String() + "." + strconv.FormatInt(n.Num, 10)
}

// AppendEntityName appends n: u8 type, le64 num.
func AppendEntityName(dst []byte, n EntityName) []byte {
	return AppendU64(append(dst, byte(n.Type)), uint64(n.Num))
}

// EntityName reads an entity_name_t.
func (d *Decoder) EntityName() EntityName {
	t := d.U8()
	return EntityName{Type: EntityType(t), Num: int64(d.U64())}
}

// AuthName is Ceph's EntityName as the auth layer encodes it: le32 type
// and a string id ("admin" in client.admin).
type AuthName struct {
	Type EntityType
	ID   string
}

// String formats the name as "client.admin".
func (n AuthName) String() string { return n.Type.String() + "." + n.ID }

// AppendAuthName appends n: le32 type, string id.
func AppendAuthName(dst []byte, n AuthName) []byte {
	return AppendString(AppendU32(dst, uint32(n.Type)), n.ID)
}

// AuthName reads an auth EntityName.
func (d *Decoder) AuthName() AuthName {
	t := d.U32()
	if t > 0xff {
		d.Fail("entity type " + utoa(uint64(t)) + " out of range")
	}
	return AuthName{Type: EntityType(t), ID: d.String()}
}

// UTime is Ceph's utime_t: le32 seconds and le32 nanoseconds.
type UTime struct {
	Sec  uint32
	Nsec uint32
}

// UTimeOf converts t to a UTime (seconds wrap after 2106, as in Ceph).
func UTimeOf(t time.Time) UTime {
	return UTime{Sec: uint32(t.Unix()), Nsec: uint32(t.Nanosecond())}
}

// Time converts u to a time.Time.
func (u UTime) Time() time.Time { return time.Unix(int64(u.Sec), int64(u.Nsec)) }

// AppendUTime appends u.
func AppendUTime(dst []byte, u UTime) []byte { return AppendU32(AppendU32(dst, u.Sec), u.Nsec) }

// UTime reads a utime_t.
func (d *Decoder) UTime() UTime {
	s := d.U32()
	return UTime{Sec: s, Nsec: d.U32()}
}

// AddrType is entity_addr_t's type: which protocol the address speaks.
type AddrType uint32

// Address types.
const (
	AddrNone   AddrType = 0
	AddrLegacy AddrType = 1 // msgr1 ("v1:")
	AddrMsgr2  AddrType = 2 // msgr2 ("v2:")
	AddrAny    AddrType = 3 // either ("any:")
)

// String returns Ceph's prefix for the type.
func (t AddrType) String() string {
	switch t {
	case AddrNone:
		return "none"
	case AddrLegacy:
		return "v1"
	case AddrMsgr2:
		return "v2"
	case AddrAny:
		return "any"
	}
	return "???"
}

// Linux address families, as entity_addr_t carries them.
const (
	afUnspec = 0
	afInet   = 2
	afInet6  = 10

	sockaddrInLen  = 16
	sockaddrIn6Len = 28
	// legacyAddrLen is a legacy entity_addr_t: le32 0, le32 nonce and a
	// 128-byte sockaddr_storage.
	legacyAddrLen   = 4 + 4 + 128
	addrStructV     = 1
	addrvecMarker   = 2
	addr2Marker     = 1
	minAddr2Encoded = 1 + StructHeaderSize + 12
)

// EntityAddr is Ceph's entity_addr_t. A zero Addr is a blank address (no
// family), which Ceph encodes as 28 zero bytes of sockaddr.
type EntityAddr struct {
	Type  AddrType
	Nonce uint32
	Addr  netip.AddrPort
	// FlowInfo and ScopeID are the extra fields of an IPv6 sockaddr.
	FlowInfo uint32
	ScopeID  uint32
}

// String formats the address as Ceph does ("v2:127.0.0.1:3300/0").
func (a EntityAddr) String() string {
	s := a.Type.String() + ":"
	if a.Addr.IsValid() {
		s += a.Addr.String()
	} else {
		s += "-"
	}
	return s + "/" + utoa(uint64(a.Nonce))
}

func (a *EntityAddr) sockaddr() (buf [sockaddrIn6Len]byte, n int) {
	ip := a.Addr.Addr()
	switch {
	case !a.Addr.IsValid():
		return buf, sockaddrIn6Len
	case ip.Is4():
		binary.LittleEndian.PutUint16(buf[0:], afInet)
		binary.BigEndian.PutUint16(buf[2:], a.Addr.Port())
		v4 := ip.As4()
		copy(buf[4:8], v4[:])
		return buf, sockaddrInLen
	default:
		binary.LittleEndian.PutUint16(buf[0:], afInet6)
		binary.BigEndian.PutUint16(buf[2:], a.Addr.Port())
		binary.BigEndian.PutUint32(buf[4:], a.FlowInfo)
		v6 := ip.As16()
		copy(buf[8:24], v6[:])
		binary.LittleEndian.PutUint32(buf[24:], a.ScopeID)
		return buf, sockaddrIn6Len
	}
}

// setSockaddr fills a from a Linux sockaddr whose family is already host order.
func (a *EntityAddr) setSockaddr(family uint16, sa []byte) bool {
	var buf [sockaddrIn6Len]byte
	copy(buf[:], sa)
	port := binary.BigEndian.Uint16(buf[2:])
	switch family {
	case afUnspec:
		a.Addr = netip.AddrPort{}
	case afInet:
		a.Addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte(buf[4:8])), port)
	case afInet6:
		a.FlowInfo = binary.BigEndian.Uint32(buf[4:])
		a.Addr = netip.AddrPortFrom(netip.AddrFrom16([16]byte(buf[8:24])), port)
		a.ScopeID = binary.LittleEndian.Uint32(buf[24:])
	default:
		return false
	}
	return true
}

// AppendEntityAddr appends a in the ADDR2 form every msgr2 frame uses: a
// marker byte 1, an ENCODE_START(1, 1) header, le32 type, le32 nonce, le32
// sockaddr length and the Linux sockaddr (family little-endian, port
// big-endian).
func AppendEntityAddr(dst []byte, a EntityAddr) []byte {
	dst = append(dst, addr2Marker)
	dst, mark := AppendStructStart(dst, addrStructV, addrStructV)
	dst = AppendU32(dst, uint32(a.Type))
	dst = AppendU32(dst, a.Nonce)
	sa, n := a.sockaddr()
	dst = AppendU32(dst, uint32(n))
	dst = append(dst, sa[:n]...)
	return FinishStruct(dst, mark)
}

// AppendEntityAddrLegacy appends a in the legacy form peers without
// MSG_ADDR2 expect: le32 0, le32 nonce, and a 128-byte sockaddr_storage
// whose family is big-endian.
func AppendEntityAddrLegacy(dst []byte, a EntityAddr) []byte {
	dst = AppendU32(dst, 0)
	dst = AppendU32(dst, a.Nonce)
	sa, n := a.sockaddr()
	var ss [128]byte
	copy(ss[:], sa[:n])
	fam := binary.LittleEndian.Uint16(ss[0:])
	binary.BigEndian.PutUint16(ss[0:], fam)
	return append(dst, ss[:]...)
}

// EntityAddr reads an entity_addr_t in either form.
func (d *Decoder) EntityAddr() EntityAddr {
	var a EntityAddr
	switch m := d.U8(); {
	case d.err != nil:
	case m == 0:
		d.legacyAddrAfterMarker(&a)
	case m == addr2Marker:
		d.addr2AfterMarker(&a)
	default:
		d.Fail("entity_addr_t marker " + itoa(int(m)))
	}
	return a
}

func (d *Decoder) legacyAddrAfterMarker(a *EntityAddr) {
	d.Fixed(3) // rest of the le32 zero type
	a.Type = AddrLegacy
	a.Nonce = d.U32()
	ss := d.Fixed(128)
	if d.err != nil {
		return
	}
	if !a.setSockaddr(binary.BigEndian.Uint16(ss), ss[:sockaddrIn6Len]) {
		d.Fail("unsupported address family " + itoa(int(binary.BigEndian.Uint16(ss))))
	}
}

func (d *Decoder) addr2AfterMarker(a *EntityAddr) {
	_, end := d.StructStart(addrStructV)
	a.Type = AddrType(d.U32())
	a.Nonce = d.U32()
	elen := d.U32()
	if d.err != nil {
		return
	}
	if elen > 0 {
		if elen < 2 {
			d.Fail("sockaddr length smaller than the family")
			return
		}
		fam := d.U16()
		max := uint32(sockaddrIn6Len)
		if fam == afInet {
			max = sockaddrInLen
		}
		if elen > max {
			d.Fail("sockaddr length " + utoa(uint64(elen)) + " exceeds its family's")
			return
		}
		var sa [sockaddrIn6Len]byte
		copy(sa[2:], d.Fixed(int(elen)-2))
		if d.err != nil {
			return
		}
		if !a.setSockaddr(fam, sa[:]) {
			d.Fail("unsupported address family " + itoa(int(fam)))
			return
		}
	}
	d.StructEnd(end)
}

// AddrVec is Ceph's entity_addrvec_t: the addresses one entity listens on.
type AddrVec []EntityAddr

// AppendAddrVec appends v in the msgr2 form: marker 2, le32 count and each
// address in ADDR2 form.
func AppendAddrVec(dst []byte, v AddrVec) []byte {
	dst = append(dst, addrvecMarker)
	dst = AppendU32(dst, uint32(len(v)))
	for _, a := range v {
		dst = AppendEntityAddr(dst, a)
	}
	return dst
}

// AddrVec reads an entity_addrvec_t; a single legacy or ADDR2 address (marker
// 0 or 1) decodes as a vector of one, as in Ceph.
func (d *Decoder) AddrVec() AddrVec {
	switch m := d.U8(); {
	case d.err != nil:
		return nil
	case m == 0:
		var a EntityAddr
		d.legacyAddrAfterMarker(&a)
		return AddrVec{a}
	case m == addr2Marker:
		var a EntityAddr
		d.addr2AfterMarker(&a)
		return AddrVec{a}
	case m == addrvecMarker:
		n := d.count(minAddr2Encoded)
		if d.err != nil {
			return nil
		}
		v := make(AddrVec, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			v = append(v, d.EntityAddr())
		}
		return v
	default:
		d.Fail("entity_addrvec_t marker " + itoa(int(m)))
		return nil
	}
}
