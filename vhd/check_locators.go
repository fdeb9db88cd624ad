package vhd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"strings"
)

// locatorReasons applies vhd-util's rules to one locator entry, in order.
func (c *checker) locatorReasons(l *ParentLocator) []footerReason {
	var rs []footerReason
	bad := func(why string, off int64) { rs = append(rs, footerReason{why, off, ErrLocatorInvalid}) }
	if !l.Code.Known() {
		bad("invalid platform code", 0)
		return rs
	}
	if l.Code == PlatformNone {
		if l.DataSpace != 0 || l.DataLength != 0 || l.Reserved != 0 || l.DataOffset != 0 {
			bad("non-zero locator", 0)
		}
		return rs
	}
	if l.DataOffset == 0 {
		bad("invalid data offset", 16)
	}
	if l.DataSpace == 0 {
		bad("invalid data space", 4)
	}
	if l.DataLength == 0 {
		bad("invalid data length", 8)
	}
	end := satAdd(l.DataOffset, uint64(l.Size()))
	if c.compat && l.Code.Decodable() && l.DataOffset+uint64(l.Size()) < l.DataOffset {
		// vhd-util's sum wraps past 2^64 and passes; the read of the
		// data then fails (see readLocator). Other codes are never read:
		// for them the rule holds in both modes.
		end = l.DataOffset + uint64(l.Size())
	}
	if end > c.eofForMetadata() {
		bad("invalid size", 4)
	}
	if l.Reserved != 0 {
		bad("invalid reserved bits", 12)
	}
	return rs
}

// readLocator reads and decodes a MacX, W2ku or W2ru locator as libvhd's
// vhd_parent_locator_read does. It returns the decoded path or the errno.
func (c *checker) readLocator(l *ParentLocator) (string, int) {
	size := l.Size()
	if size <= 0 || int64(l.DataLength) > size {
		return "", errEINVAL
	}
	if l.DataLength > maxLocatorData {
		return "", errENAMETOOLONG
	}
	if l.DataOffset > math.MaxInt64 {
		return "", errEINVAL // lseek refuses a negative offset
	}
	if l.DataOffset > uint64(c.size) || int64(l.DataLength) > c.size-int64(l.DataOffset) {
		return "", errEIO
	}
	data := make([]byte, l.DataLength)
	if e := c.read(data, int64(l.DataOffset), "parent locator"); e != 0 {
		return "", e
	}
	switch l.Code {
	case PlatformMacX:
		for _, b := range data {
			if b >= 0x80 {
				return "", errEINVAL
			}
		}
		s := string(data)
		if i := strings.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		const scheme = "file://"
		if !strings.HasPrefix(s, scheme) {
			return "", errEINVAL
		}
		return s[len(scheme):], 0
	case PlatformW2ku, PlatformW2ru:
		s, err := DecodeLocator(l.Code, data)
		if err != nil {
			return "", errEINVAL
		}
		return s, 0
	}
	return "", errEINVAL
}

// windowsName reports whether the header's parent name is a Windows path
// (as Windows writes it: "C:\dir\p.vhd"), read from the raw UTF-16BE.
func (c *checker) windowsName() bool {
	raw, ok := decodeW2URaw(c.hdr.ParentName[:])
	if !ok {
		return false
	}
	if strings.Contains(raw, `\`) {
		return true
	}
	return len(raw) >= 2 && raw[1] == ':' && (raw[0]|0x20) >= 'a' && (raw[0]|0x20) <= 'z'
}

// decodeW2URaw decodes the header's parent name without converting
// anything.
func decodeW2URaw(b []byte) (string, bool) {
	s, err := decodeUTF16ASCII(b, binary.BigEndian)
	return s, err == nil
}

// checkLocators runs step 8 for a differencing disk.
func (c *checker) checkLocators() {
	h := c.hdr
	pname, pnameOK := c.parentName()
	if !pnameOK && !c.pnameBad {
		c.add("header", c.hdrOff+headerOffParentName, ErrLocatorInvalid, "error decoding parent name: -%d", errEINVAL)
	}
	opener := c.opts.Parents
	switch {
	case opener == nil:
		c.rep.NotRun = append(c.rep.NotRun, "parent locators: no parent opener (locators not resolved, parent UUID not compared)")
	case c.file == nil:
		c.notRun("parent locators: the file does not open (locators not resolved, parent UUID not compared)")
		opener = nil
	}
	raw := h.ParentUUID.IsZero()
	type deferred struct {
		part, msg string
		off       int64
	}
	var winFailures []deferred
	counts := map[PlatformCode]int{}
	found := 0
	for i := range h.Locators {
		if c.stopped() {
			return
		}
		l := &h.Locators[i]
		part := fmt.Sprintf("parent locator %d", i)
		entry := c.hdrOff + headerOffLocators + int64(i)*locatorEntrySize
		rs := c.locatorReasons(l)
		for _, r := range rs {
			c.add(part, entry+r.off, r.err, "invalid parent locator %d: %s", i, r.why)
		}
		if len(rs) > 0 || l.Code == PlatformNone {
			continue
		}
		counts[l.Code]++
		if counts[l.Code] > 1 {
			c.add(part, entry, ErrLocatorInvalid, "duplicate platform code in locator %d: 0x%x", i, uint32(l.Code))
			continue
		}
		if !l.Code.Decodable() {
			continue
		}
		ppath, e := c.readLocator(l)
		if e != 0 {
			if e > 0 {
				c.add(part, int64(min(l.DataOffset, 1<<62)), ErrLocatorInvalid, "error reading parent locator %d: -%d", i, e)
			}
			continue
		}
		base := path.Base(ppath)
		if pnameOK && base != pname {
			if c.compat || !c.windowsName() || path.Base(pname) != base {
				c.add(part, int64(l.DataOffset), ErrLocatorInvalid, "parent locator %d name (%s) does not match header name (%s)", i, base, pname)
			}
		}
		if opener == nil {
			continue
		}
		loc := Locator{Slot: i, Entry: *l, Path: ppath}
		location, err := opener.Resolve(c.file, loc)
		if err != nil {
			msg := fmt.Sprintf("error resolving %s: -%d", ppath, errnoOf(err))
			if !c.compat && l.Code == PlatformW2ku && strings.HasPrefix(ppath, "/") {
				// Windows stores the creating host's absolute path here.
				winFailures = append(winFailures, deferred{part, msg, entry})
			} else {
				c.add(part, entry, ErrParentInvalid, "%s", msg)
			}
			continue
		}
		if why := c.checkParent(opener, location, raw); why != "" {
			if why == "missing" {
				if l.Code == PlatformMacX {
					c.add(part, entry, ErrParentInvalid, "parent locator %d points to missing file %s (resolved to %s)", i, ppath, location)
					continue
				}
				if raw || c.opts.IgnoreParentUUID {
					found++
					continue
				}
				why = "error opening parent"
			}
			c.add("parent", entry, ErrParentInvalid, "invalid parent %s: %s", location, why)
			continue
		}
		found++
	}
	if opener == nil {
		return
	}
	if found == 0 {
		for _, d := range winFailures {
			c.add(d.part, d.off, ErrParentInvalid, "%s", d.msg)
		}
		c.add("parent", c.hdrOff+headerOffParentName, ErrParentInvalid, "could not find parent %s", pname)
	}
}

// checkParent opens the parent at location and compares its UUID with the
// header's. It returns "" when all is well, "missing" when nothing is
// there, or vhd-util's reason. Like vhd-util it accepts any parent of a
// disk with a raw parent (null parent UUID) or with IgnoreParentUUID.
func (c *checker) checkParent(opener ParentOpener, location string, raw bool) string {
	p, err := opener.Open(location)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "missing"
		}
		if raw || c.opts.IgnoreParentUUID {
			return ""
		}
		return "error opening parent"
	}
	defer p.Close()
	if raw || c.opts.IgnoreParentUUID {
		return ""
	}
	if p.Footer.UUID != c.hdr.ParentUUID {
		return "invalid parent uuid"
	}
	return ""
}
