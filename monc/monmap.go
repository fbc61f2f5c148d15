package monc

import (
	"fmt"

	"github.com/gomsgr/gomsgr/msgr2"
)

// decodeMonMapHeader reads the fsid and epoch at the start of an MMonMap's
// front: the monmap as a bufferlist (le32 length, bytes) whose encoding
// (MonMap::encode, ENCODE_START(9, 6)) begins with the fsid (16 raw bytes)
// and the epoch (le32). The rest (mon addresses, features, ...) is not
// needed by this client and is not decoded.
func decodeMonMapHeader(front []byte) (fsid msgr2.UUID, epoch uint32, err error) {
	d := msgr2.NewDecoder(front)
	bl := d.Bytes()
	if d.Err() != nil {
		return fsid, 0, fmt.Errorf("monc: monmap: %w", d.Err())
	}
	d = msgr2.NewDecoder(bl)
	// Any compat version: the fsid and epoch have led the encoding since
	// version 6, and nothing after them is read.
	v, end := d.StructStart(255)
	if d.Err() == nil && v < 6 {
		return fsid, 0, fmt.Errorf("monc: monmap encoding version %d is too old (want 6 or later)", v)
	}
	if p := d.Fixed(16); p != nil {
		fsid = msgr2.UUID(p)
	}
	epoch = d.U32()
	d.StructEnd(end)
	if d.Err() != nil {
		return msgr2.UUID{}, 0, fmt.Errorf("monc: monmap: %w", d.Err())
	}
	return fsid, epoch, nil
}
