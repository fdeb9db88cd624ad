package vhd

import (
	"bytes"
)

// A footerReason is one broken footer rule: vhd-util's reason text, the
// field's offset within the footer, and the sentinel.
type footerReason struct {
	why string
	off int64
	err error
}

// footerReasons applies vhd-util's footer rules to the decoded footer ft, in
// vhd-util's order. After a bad cookie nothing else is looked at.
func (c *checker) footerReasons(ft *Footer) []footerReason {
	var rs []footerReason
	bad := func(why string, off int64, err error) { rs = append(rs, footerReason{why, off, err}) }
	if string(ft.Cookie[:]) != FooterCookie {
		bad("invalid cookie", 0, ErrFooterInvalid)
		return rs
	}
	if !checkFooterChecksum(ft) {
		bad("invalid checksum", footerOffChecksum, ErrFooterInvalid)
	}
	if ft.Features&FeatureReserved == 0 {
		bad("invalid 'reserved' feature", footerOffFeatures, ErrFooterInvalid)
	}
	if ft.Features&^(FeatureTemporary|FeatureReserved) != 0 {
		bad("invalid extra features", footerOffFeatures, ErrFooterInvalid)
	}
	if ft.FormatVersion != FormatVersion {
		bad("invalid file format version", footerOffVersion, ErrFooterInvalid)
	}
	if !ft.IsDynamic() && ft.DataOffset != ^uint64(0) {
		bad("invalid data offset", footerOffDataOffset, ErrFooterInvalid)
	}
	if !c.opts.IgnoreTimestamps && ft.Timestamp > c.now+futureSlack {
		bad("creation time in future", footerOffTimestamp, ErrFutureTime)
	}
	if tapCreator(ft) && ft.CreatorVersion > TapVersion {
		bad("unsupported tap creator version", footerOffCreatorVer, ErrFooterInvalid)
	}
	if vhdCHS(ft.CurrentSize) < ft.Geometry.Uint32() {
		bad("geometry too large", footerOffGeometry, ErrFooterInvalid)
	}
	if ft.CurrentSize > MaxSize {
		// Not a rule of vhd-util's, in either mode: every count derived
		// from the size must stay bounded.
		bad("current size above 2040 GiB", footerOffCurrSize, ErrFooterInvalid)
	}
	if ft.DiskType != DiskFixed && !ft.IsDynamic() {
		bad("invalid type", footerOffDiskType, ErrFooterInvalid)
	}
	if ft.Saved > 1 {
		bad("invalid 'saved' state", footerOffSaved, ErrFooterInvalid)
	}
	if ft.Hidden > 1 {
		bad("invalid 'hidden' state", footerOffHidden, ErrFooterInvalid)
	}
	if nz, i := c.nonZero(ft.Reserved[:]); nz {
		bad("invalid 'reserved' bits", footerOffReserved+int64(i), ErrFooterInvalid)
	}
	if ft.UUID.IsZero() {
		bad("invalid (NULL) uuid", footerOffUUID, ErrFooterInvalid)
	}
	return rs
}

// tapCreator reports whether the creator is blktap's, compared on three
// characters as blktap does.
func tapCreator(ft *Footer) bool { return string(ft.CreatorApp[:3]) == "tap" }

// oldTapHidden reports whether ft may carry a checksum computed with hidden
// = 0: a hidden footer of blktap 0.1 or 1.1 (see FORMAT.md, the hidden-checksum quirk).
func oldTapHidden(ft *Footer) bool {
	return ft.Hidden != 0 && tapCreator(ft) && (ft.CreatorVersion == tapVersion01 || ft.CreatorVersion == tapVersion11)
}

// checkFooterChecksum is vhd-util's checksum rule, with the hidden quirk.
func checkFooterChecksum(ft *Footer) bool {
	if ft.Checksum == ft.ComputeChecksum() {
		return true
	}
	if oldTapHidden(ft) {
		g := *ft
		g.Hidden = 0
		return ft.Checksum == g.ComputeChecksum()
	}
	return false
}

// vhdCHS is blktap's vhd_chs: the encoded geometry for a size, with the
// sector count held in 32 bits as blktap holds it.
func vhdCHS(size uint64) uint32 {
	secs := uint32((size + SectorSize - 1) >> 9)
	if secs == 0 {
		secs = 1
	}
	return GeometryForSize(uint64(secs) * SectorSize).Uint32()
}

// checkFooters runs steps 1 and 2: the primary footer, the backup footer
// and their comparison. It returns false when the check ends here: a fixed
// disk (only its footer is checked), or no footer to go on with.
func (c *checker) checkFooters() bool {
	n := int64(FooterSize)
	if c.size%SectorSize != 0 {
		n = FooterSize - 1
	}
	if c.size < n {
		c.add("primary footer", -1, ErrFooterInvalid, "error calculating end of file: -%d", errEINVAL)
		c.notRun("backup footer and everything after: no footer")
		return false
	}
	pOff := c.size - n
	pbuf := make([]byte, FooterSize)
	if e := c.read(pbuf[:n], pOff, "primary footer"); e != 0 {
		if e > 0 {
			c.add("primary footer", pOff, ErrFooterInvalid, "error reading primary footer: -%d", e)
		}
		return false
	}
	var primary Footer
	primary.UnmarshalBinary(pbuf)
	pr := c.footerReasons(&primary)
	c.primaryMissing = len(pr) > 0
	ignore := c.opts.UseBackupFooter
	if len(pr) > 0 && !ignore {
		for _, r := range pr {
			c.add("primary footer", pOff+r.off, r.err, "primary footer invalid: %s", r.why)
		}
	}
	pUsable := string(primary.Cookie[:]) == FooterCookie && checkFooterChecksum(&primary)
	// A fixed disk, or a footer that reads as one (no header offset):
	// there is no backup to look at.
	looksFixed := primary.DiskType == DiskFixed || (!primary.IsDynamic() && primary.DataOffset == ^uint64(0))
	if (primary.DiskType == DiskFixed && len(pr) == 0) || (looksFixed && pUsable && !ignore) {
		// A fixed disk: only the footer is checked.
		c.ft = &primary
		c.rep.Type = primary.DiskType
		return false
	}

	// Step 2: the backup footer at offset 0.
	bbuf := make([]byte, FooterSize)
	var backup Footer
	var br []footerReason
	bReadable := false
	if e := c.read(bbuf, 0, "backup footer"); e != 0 {
		if e < 0 {
			return false
		}
		c.add("backup footer", 0, ErrFooterInvalid, "error reading backup footer: -%d", e)
	} else {
		bReadable = true
		backup.UnmarshalBinary(bbuf)
		br = c.footerReasons(&backup)
		for _, r := range br {
			c.add("backup footer", r.off, r.err, "backup footer invalid: %s", r.why)
		}
	}
	bValid := bReadable && len(br) == 0
	bUsable := bReadable && string(backup.Cookie[:]) == FooterCookie && checkFooterChecksum(&backup)

	switch {
	case bValid && len(pr) == 0:
		if !bytes.Equal(pbuf, bbuf) && !ignore && !hiddenQuirkEqual(pbuf, &backup) {
			c.add("primary footer", pOff+int64(firstDiff(pbuf, bbuf)), ErrBackupMismatch, "primary and backup footers do not match")
		}
		c.ft = &primary
		if ignore {
			c.ft = &backup
		}
	case bValid:
		c.ft = &backup
	case pUsable:
		c.ft = &primary
	case bUsable:
		c.ft = &backup
	default:
		c.notRun("header and everything after: no usable footer")
		return false
	}
	if !c.ft.IsDynamic() {
		c.rep.Type = c.ft.DiskType
		return false
	}
	return true
}

// hiddenQuirkEqual reports whether the footers are equal once the backup's
// hidden flag, which old blktap set without updating the primary, is taken
// as 0.
func hiddenQuirkEqual(primary []byte, backup *Footer) bool {
	if !oldTapHidden(backup) {
		return false
	}
	g := *backup
	g.Hidden = 0
	return bytes.Equal(primary, g.bytes())
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return 0
}
