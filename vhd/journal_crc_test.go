package vhd

import (
	"hash/crc32"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestJournalCRC checks the bitwise CRC-32C against its published check
// value and against hash/crc32 on a whole record's worth of bytes.
func TestJournalCRC(t *testing.T) {
	record := make([]byte, JournalSize)
	for i := range record {
		record[i] = byte(i * 7)
	}
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	for _, tc := range []struct {
		name string
		in   []byte
		want uint32
	}{
		{"empty", nil, 0},
		{"check value", []byte("123456789"), 0xe3069283},
		{"record", record, crc32.Checksum(record, castagnoli)},
	} {
		if diff := cmp.Diff(tc.want, journalCRC(tc.in)); diff != "" {
			t.Errorf("journalCRC(%s) (-want +got):\n%s", tc.name, diff)
		}
	}
}
