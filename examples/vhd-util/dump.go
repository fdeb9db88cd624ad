package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/vhdkit/vhdkit/vhd"
)

// dumpMetadata prints what check prints after "NAME appears invalid": the
// footer, the header, the parent locators and a summary of the BAT, or
// when the file does not open the open error and a raw dump of its first
// and last sectors. No script parses it.
func dumpMetadata(w io.Writer, name string) {
	f, err := vhd.OpenBlockDevice(name, os.O_RDONLY)
	if err != nil {
		fmt.Fprintf(w, "Failed to open %s: -%d\n", name, openErrno(name, err))
		dumpRaw(w, name)
		return
	}
	defer f.Close()
	ft := &f.Footer
	fmt.Fprintf(w, "footer (%s copy):\n", f.FooterSource())
	fmt.Fprintf(w, "  cookie            : %q\n", ft.Cookie[:])
	fmt.Fprintf(w, "  features          : %#08x\n", uint32(ft.Features))
	fmt.Fprintf(w, "  format version    : %#08x\n", ft.FormatVersion)
	fmt.Fprintf(w, "  data offset       : %#x\n", ft.DataOffset)
	fmt.Fprintf(w, "  timestamp         : %d (%s)\n", ft.Timestamp, ft.Created().UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(w, "  creator           : %q %#08x os %#08x\n", ft.CreatorApp.String(), ft.CreatorVersion, uint32(ft.CreatorOS))
	fmt.Fprintf(w, "  original size     : %d\n", ft.OriginalSize)
	fmt.Fprintf(w, "  current size      : %d\n", ft.CurrentSize)
	fmt.Fprintf(w, "  geometry          : %d/%d/%d\n", ft.Geometry.Cylinders, ft.Geometry.Heads, ft.Geometry.SectorsPerTrack)
	fmt.Fprintf(w, "  disk type         : %d (%v)\n", uint32(ft.DiskType), ft.DiskType)
	fmt.Fprintf(w, "  checksum          : %#08x (computed %#08x)\n", ft.Checksum, ft.ComputeChecksum())
	fmt.Fprintf(w, "  uuid              : %s\n", ft.UUID)
	fmt.Fprintf(w, "  saved, hidden     : %d, %d\n", ft.Saved, ft.Hidden)
	h := f.Header
	if h == nil {
		return
	}
	fmt.Fprintf(w, "header (at %#x):\n", ft.DataOffset)
	fmt.Fprintf(w, "  cookie            : %q\n", h.Cookie[:])
	fmt.Fprintf(w, "  data offset       : %#x\n", h.DataOffset)
	fmt.Fprintf(w, "  table offset      : %#x\n", h.TableOffset)
	fmt.Fprintf(w, "  version           : %#08x\n", h.Version)
	fmt.Fprintf(w, "  max table entries : %d\n", h.MaxTableEntries)
	fmt.Fprintf(w, "  block size        : %d\n", h.BlockSize)
	fmt.Fprintf(w, "  checksum          : %#08x (computed %#08x)\n", h.Checksum, h.ComputeChecksum())
	fmt.Fprintf(w, "  parent uuid       : %s\n", h.ParentUUID)
	fmt.Fprintf(w, "  parent timestamp  : %d\n", h.ParentTimestamp)
	if pn, err := h.ParentUnicodeName(); err != nil {
		fmt.Fprintf(w, "  parent name       : (undecodable: %v)\n", err)
	} else {
		fmt.Fprintf(w, "  parent name       : %q\n", pn)
	}
	for i, l := range h.Locators {
		if l.Code == vhd.PlatformNone && l.DataOffset == 0 && l.DataLength == 0 && l.DataSpace == 0 {
			continue
		}
		fmt.Fprintf(w, "  locator %d         : code %v space %d length %d offset %#x", i, l.Code, l.DataSpace, l.DataLength, l.DataOffset)
		if l.Code.Decodable() {
			if data, err := f.LocatorData(i); err != nil {
				fmt.Fprintf(w, " (unreadable: %v)", err)
			} else if p, err := vhd.DecodeLocator(l.Code, data); err != nil {
				fmt.Fprintf(w, " (undecodable: %v)", err)
			} else {
				fmt.Fprintf(w, " %q", p)
			}
		}
		fmt.Fprintln(w)
	}
	bat, err := f.BAT()
	if err != nil {
		fmt.Fprintf(w, "BAT: unreadable: %v\n", err)
		return
	}
	var n int
	for _, e := range bat {
		if e != vhd.Unallocated {
			n++
		}
	}
	fmt.Fprintf(w, "BAT: %d entries, %d allocated\n", len(bat), n)
	for i, e := range bat {
		if e != vhd.Unallocated {
			fmt.Fprintf(w, "  block %d: sector %#x\n", i, e)
		}
	}
}

// dumpRaw prints the first and last sectors of a file that does not open
// as a VHD, in hex.
func dumpRaw(w io.Writer, name string) {
	f, err := os.Open(name)
	if err != nil {
		fmt.Fprintf(w, "cannot read %s: %v\n", name, err)
		return
	}
	defer f.Close()
	size, err := sizeOf(f)
	if err != nil {
		return
	}
	b := make([]byte, vhd.SectorSize)
	if n, _ := f.ReadAt(b, 0); n > 0 {
		fmt.Fprintf(w, "first sector (offset 0):\n%s", hex.Dump(b[:n]))
	}
	if size > vhd.SectorSize {
		off := size - vhd.SectorSize
		if n, _ := f.ReadAt(b, off); n > 0 {
			fmt.Fprintf(w, "last sector (offset %#x):\n%s", off, hex.Dump(b[:n]))
		}
	}
}
