package vhd

import "time"

// vhdEpoch is 2000-01-01 00:00:00 UTC, the zero of VHD timestamps, as Unix time.
const vhdEpoch = 946684800

// TimeFromVHD converts a VHD timestamp (seconds since 2000-01-01 UTC) to a time.
func TimeFromVHD(ts uint32) time.Time {
	return time.Unix(vhdEpoch+int64(ts), 0).UTC()
}

// VHDTime converts t to a VHD timestamp. Like blktap it keeps the low 32 bits,
// so times before 2000 wrap around to large values.
func VHDTime(t time.Time) uint32 {
	return uint32(t.Unix() - vhdEpoch)
}
