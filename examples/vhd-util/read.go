package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/vhdkit/vhdkit/chain"
	"github.com/vhdkit/vhdkit/vhd"
)

func readUsage(w io.Writer) {
	fmt.Fprint(w, "options:\n"+
		"-h          help\n"+
		"-n          name\n"+
		"-p          print VHD headers\n"+
		"-t sec      translate logical sector to VHD location\n"+
		"-b blk      print bat entry\n"+
		"-B          print entire bat as a bitmap\n"+
		"-m blk      print bitmap\n"+
		"-i sec      test bitmap for logical sector\n"+
		"-e sec      output extent list of allocated logical sectors\n"+
		"-a          print batmap\n"+
		"-j blk      test batmap for block\n"+
		"-d blk      print data\n"+
		"-c num      num units\n"+
		"-r sec      read num sectors at sec\n"+
		"-R byte     read num bytes at byte\n"+
		"-x          print in hex\n")
}

const unset = math.MaxUint64 // an option not given

// reader holds one vhd-util read: the file, its BAT as libvhd reads it, and
// the two output streams. Text goes to a buffer written at the end, raw
// bytes straight out, as vhd-util's buffered printf and unbuffered
// write(2) come out on a pipe.
type reader struct {
	f      *vhd.File
	name   string
	bat    []uint32 // the whole table; libvhd reads entries of it
	hex    bool
	text   bytes.Buffer
	raw    io.Writer
	stderr io.Writer
}

// runRead is vhd-util read: the layout queries (-p headers, -t, -b, -B,
// -m, -i, -e, -a, -j) and the data reads (-d, -r, -R), in that order
// whatever the order of the flags, stopping at the first that fails.
func runRead(args []string, stdout, stderr io.Writer) int {
	var name string
	var haveName, headers, batStr, batmap, hex, fast bool
	lsec, bat, bitmap, tbitmap, ebitmap, tbatmap, data, rd, bread := uint64(unset), uint64(unset), uint64(unset),
		uint64(unset), uint64(unset), uint64(unset), uint64(unset), uint64(unset), uint64(unset)
	count := int64(1)
	opts, operands := getopt("read", args, "n:pt:b:Bm:i:e:aj:d:c:r:R:xCh", stderr)
	for _, o := range opts {
		switch {
		case o.bad, o.c == 'h':
			readUsage(stdout)
			return errEINVAL
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'p':
			headers = true
		case o.c == 'C':
			fast = true
		case o.c == 'B':
			batStr = true
		case o.c == 't':
			lsec = strtoull(o.arg)
		case o.c == 'b':
			bat = strtoull(o.arg)
		case o.c == 'm':
			bitmap = strtoull(o.arg)
		case o.c == 'i':
			tbitmap = strtoull(o.arg)
		case o.c == 'e':
			ebitmap = strtoull(o.arg)
		case o.c == 'a':
			batmap = true
		case o.c == 'j':
			tbatmap = strtoull(o.arg)
		case o.c == 'd':
			data = strtoull(o.arg)
		case o.c == 'r':
			rd = strtoull(o.arg)
		case o.c == 'R':
			bread = strtoull(o.arg)
		case o.c == 'c':
			count = int64(int32(strtoull(o.arg))) // vhd-util keeps it in an int
		case o.c == 'x':
			hex = true
		}
	}
	if !haveName || len(operands) > 0 {
		readUsage(stdout)
		return errEINVAL
	}
	var f *vhd.File
	var err error
	if fast {
		f, err = vhd.OpenWithFooter(name, os.O_RDONLY, vhd.FooterBackup)
	} else {
		f, err = vhd.OpenBlockDevice(name, os.O_RDONLY)
	}
	if err != nil {
		e := openErrno(name, err)
		fmt.Fprintf(stdout, "Failed to open %s: -%d\n", name, e)
		fmt.Fprintf(stdout, "\n%s appears invalid; dumping headers\n\n", name)
		return e
	}
	defer f.Close()
	r := &reader{f: f, name: name, hex: hex, raw: stdout, stderr: stderr}
	defer func() { stdout.Write(r.text.Bytes()) }()
	if f.Header == nil || f.Header.MaxTableEntries < uint32(compatBlocks(f)) {
		fmt.Fprintf(&r.text, "Failed to get bat for %s: -%d\n", name, errEINVAL)
		return errEINVAL
	}
	if r.bat, err = f.BAT(); err != nil {
		e := errno(err)
		fmt.Fprintf(&r.text, "Failed to get bat for %s: -%d\n", name, e)
		return e
	}
	if headers {
		r.printHeaders()
	}
	steps := []struct {
		on bool
		do func() int
	}{
		{lsec != unset, func() int { return r.translate(lsec, count) }},
		{bat != unset, func() int { return r.printBAT(bat, count) }},
		{batStr, r.printBATBitmap},
		{bitmap != unset, func() int { return r.printBitmap(bitmap, count) }},
		{tbitmap != unset, func() int { return r.testBitmap(tbitmap, count) }},
		{ebitmap != unset, func() int { return r.printExtents(ebitmap, count) }},
		{batmap, r.printBatmap},
		{tbatmap != unset, func() int { return r.testBatmap(tbatmap, count) }},
		{data != unset, func() int { return r.printData(data, count) }},
		{rd != unset, func() int {
			return r.readData(rd*vhd.SectorSize, count*vhd.SectorSize, rd+uint64(count) > f.Footer.CurrentSize/vhd.SectorSize)
		}},
		{bread != unset, func() int { return r.readData(bread, count, bread+uint64(count) > f.Footer.CurrentSize) }},
	}
	for _, s := range steps {
		if s.on {
			if e := s.do(); e != 0 {
				return e
			}
		}
	}
	return 0
}

// compatBlocks is the number of BAT entries libvhd reads: one per 2 MiB
// of virtual size (FORMAT.md §17.1.4).
func compatBlocks(f *vhd.File) uint64 {
	return (f.Footer.CurrentSize + compatBlock - 1) / compatBlock
}

// conv is vhd-util read's number format: decimal, or with -x C's %#x
// (which prints 0 as "0").
func (r *reader) conv(v uint64) string {
	if !r.hex {
		return strconv.FormatUint(v, 10)
	}
	if v == 0 {
		return "0"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// ctime is C's ctime without the newline, in the local time zone.
func ctime(ts uint32) string {
	return vhd.TimeFromVHD(ts).In(time.Local).Format("Mon Jan _2 15:04:05 2006")
}

// cString is a fixed-size field printed with %s: up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func goodBad(stored, computed uint32) string {
	if stored == computed {
		return "Good!"
	}
	return "Bad!"
}

var diskTypeNames = []string{"None", "Reserved (deprecated)", "Fixed hard disk", "Dynamic hard disk",
	"Differencing hard disk", "Reserved (deprecated)", "Reserved (deprecated)"}

var platformNames = map[vhd.PlatformCode]string{
	vhd.PlatformNone: "PLAT_CODE_NONE", vhd.PlatformWi2r: "PLAT_CODE_WI2R", vhd.PlatformWi2k: "PLAT_CODE_WI2K",
	vhd.PlatformW2ru: "PLAT_CODE_W2RU", vhd.PlatformW2ku: "PLAT_CODE_W2KU", vhd.PlatformMac: "PLAT_CODE_MAC",
	vhd.PlatformMacX: "PLAT_CODE_MACX",
}

// printHeaders is read -p: the footer, and for a dynamic disk the header,
// a differencing disk's parent locators and the batmap header.
func (r *reader) printHeaders() {
	w, ft := &r.text, &r.f.Footer
	fmt.Fprintf(w, "VHD Footer Summary:\n-------------------\n")
	fmt.Fprintf(w, "Cookie              : %s\n", cString(ft.Cookie[:]))
	temp, resv := "", ""
	if ft.Features&vhd.FeatureTemporary != 0 {
		temp = "<TEMP>"
	}
	if ft.Features&vhd.FeatureReserved != 0 {
		resv = "<RESV>"
	}
	fmt.Fprintf(w, "Features            : (0x%08x) %s%s\n", uint32(ft.Features), temp, resv)
	fmt.Fprintf(w, "File format version : Major: %d, Minor: %d\n", ft.FormatVersion>>16, ft.FormatVersion&0xffff)
	fmt.Fprintf(w, "Data offset         : %s\n", r.conv(ft.DataOffset))
	fmt.Fprintf(w, "Timestamp           : %s\n", ctime(ft.Timestamp))
	fmt.Fprintf(w, "Creator Application : '%s'\n", cString(ft.CreatorApp[:]))
	fmt.Fprintf(w, "Creator version     : Major: %d, Minor: %d\n", ft.CreatorVersion>>16, ft.CreatorVersion&0xffff)
	osName := "Unknown!"
	switch ft.CreatorOS {
	case vhd.HostWindows:
		osName = "Windows"
	case vhd.HostMac:
		osName = "Macintosh"
	}
	fmt.Fprintf(w, "Creator OS          : %s\n", osName)
	fmt.Fprintf(w, "Original disk size  : %s MB (%s Bytes)\n", r.conv(ft.OriginalSize>>20), r.conv(ft.OriginalSize))
	fmt.Fprintf(w, "Current disk size   : %s MB (%s Bytes)\n", r.conv(ft.CurrentSize>>20), r.conv(ft.CurrentSize))
	c, h, s := uint64(ft.Geometry.Cylinders), uint64(ft.Geometry.Heads), uint64(ft.Geometry.SectorsPerTrack)
	fmt.Fprintf(w, "Geometry            : Cyl: %s, Hds: %s, Sctrs: %s\n", r.conv(c), r.conv(h), r.conv(s))
	fmt.Fprintf(w, "                    : = %s MB (%s Bytes)\n", r.conv(c*h*s>>11), r.conv(c*h*s<<9))
	dt := "Unknown type!\n"
	if int(ft.DiskType) < len(diskTypeNames) {
		dt = diskTypeNames[ft.DiskType]
	}
	fmt.Fprintf(w, "Disk type           : %s\n", dt)
	fmt.Fprintf(w, "Checksum            : 0x%x|0x%x (%s)\n", ft.Checksum, ft.ComputeChecksum(), goodBad(ft.Checksum, ft.ComputeChecksum()))
	fmt.Fprintf(w, "UUID                : %s\n", ft.UUID)
	saved := "No"
	if ft.Saved != 0 {
		saved = "Yes"
	}
	fmt.Fprintf(w, "Saved state         : %s\n", saved)
	fmt.Fprintf(w, "Hidden              : %d\n\n", ft.Hidden)
	hd := r.f.Header
	if hd == nil {
		return
	}
	fmt.Fprintf(w, "VHD Header Summary:\n-------------------\n")
	fmt.Fprintf(w, "Cookie              : %s\n", cString(hd.Cookie[:]))
	fmt.Fprintf(w, "Data offset (unusd) : %s\n", r.conv(hd.DataOffset))
	fmt.Fprintf(w, "Table offset        : %s\n", r.conv(hd.TableOffset))
	fmt.Fprintf(w, "Header version      : 0x%08x\n", hd.Version)
	fmt.Fprintf(w, "Max BAT size        : %s\n", r.conv(uint64(hd.MaxTableEntries)))
	fmt.Fprintf(w, "Block size          : %s (%s MB)\n", r.conv(uint64(hd.BlockSize)), r.conv(uint64(hd.BlockSize>>20)))
	if pn, err := hd.ParentUnicodeName(); err != nil {
		fmt.Fprintf(w, "Parent name         : failed to read name\n")
	} else {
		fmt.Fprintf(w, "Parent name         : %s\n", pn)
	}
	fmt.Fprintf(w, "Parent UUID         : %s\n", hd.ParentUUID)
	fmt.Fprintf(w, "Parent timestamp    : %s\n", ctime(hd.ParentTimestamp))
	fmt.Fprintf(w, "Checksum            : 0x%x|0x%x (%s)\n\n", hd.Checksum, hd.ComputeChecksum(), goodBad(hd.Checksum, hd.ComputeChecksum()))
	if r.f.HasParent() {
		fmt.Fprintf(w, "VHD Parent Locators:\n--------------------\n")
		for i, l := range hd.Locators {
			if l.Code == vhd.PlatformNone {
				continue
			}
			code, ok := platformNames[l.Code]
			if !ok {
				code = "UNKOWN"
			}
			fmt.Fprintf(w, "locator:            : %d\n", i)
			fmt.Fprintf(w, "       code         : %s\n", code)
			fmt.Fprintf(w, "       data_space   : %s\n", r.conv(uint64(l.DataSpace)))
			fmt.Fprintf(w, "       data_length  : %s\n", r.conv(uint64(l.DataLength)))
			fmt.Fprintf(w, "       data_offset  : %s\n", r.conv(l.DataOffset))
			if p, err := r.locator(i, l.Code); err != nil {
				fmt.Fprintf(w, "failed to read parent name\n")
			} else {
				fmt.Fprintf(w, "       decoded name : %s\n", p)
			}
			fmt.Fprintf(w, "\n")
		}
	}
	bm, err := r.f.Batmap()
	if errors.Is(err, vhd.ErrNoBatmap) {
		return
	}
	if err != nil {
		fmt.Fprintf(w, "failed to get batmap header\n")
		return
	}
	fmt.Fprintf(w, "VHD Batmap Summary:\n-------------------\n")
	fmt.Fprintf(w, "Batmap offset       : %s\n", r.conv(bm.Header.Offset))
	fmt.Fprintf(w, "Batmap size (secs)  : %s\n", r.conv(uint64(bm.Header.Size)))
	fmt.Fprintf(w, "Batmap version      : 0x%08x\n", bm.Header.Version)
	if kh := bm.Header.Keyhash; kh.Cookie == 1 {
		fmt.Fprintf(w, "Batmap keyhash nonce: %x\nBatmap keyhash hash : %x\n", kh.Nonce[:], kh.Hash[:])
	}
	sum := bm.ComputeChecksum(r.f.Footer.CurrentSize)
	fmt.Fprintf(w, "Checksum            : 0x%x|0x%x (%s)\n\n", bm.Header.Checksum, sum, goodBad(bm.Header.Checksum, sum))
}

// locator decodes locator slot i as vhd-util read does.
func (r *reader) locator(i int, code vhd.PlatformCode) (string, error) {
	if !code.Decodable() {
		return "", vhd.ErrLocator
	}
	data, err := r.f.LocatorData(i)
	if err != nil {
		return "", err
	}
	return vhd.DecodeLocator(code, data)
}

// entry is BAT entry blk as libvhd's table holds it (unallocated past the
// table).
func (r *reader) entry(blk uint64) uint32 {
	if blk >= uint64(len(r.bat)) {
		return vhd.Unallocated
	}
	return r.bat[blk]
}

func (r *reader) spb() uint64 { return uint64(r.f.Header.BlockSize) / vhd.SectorSize }

func (r *reader) bitmapBytes() int64 {
	return max(1, (int64(r.spb())/8+vhd.SectorSize-1)/vhd.SectorSize) * vhd.SectorSize
}

// blockRange is vhd-util's check that block+count is inside the table.
func (r *reader) blockRange(end uint64) int {
	if end > uint64(r.f.Header.MaxTableEntries) {
		fmt.Fprintf(r.stderr, "block %s past end of file\n", r.conv(end))
		return errERANGE
	}
	return 0
}

// translate is -t: where each of count sectors from sec lives.
func (r *reader) translate(sec uint64, count int64) int {
	if (sec+uint64(count))*vhd.SectorSize > r.f.Footer.CurrentSize {
		fmt.Fprintf(r.stderr, "sector %s past end of file\n", r.conv(sec+uint64(count)))
		return errERANGE
	}
	for i := int64(0); i < count; i++ {
		cur := sec + uint64(i)
		blk, lsec := cur/r.spb(), cur%r.spb()
		off := "not allocated"
		if e := r.entry(blk); e != vhd.Unallocated {
			off = r.conv((uint64(e) + lsec + 1) * vhd.SectorSize)
		}
		fmt.Fprintf(&r.text, "logical sector %s: block number: %s, sector offset: %s, file offset: %s\n",
			r.conv(cur), r.conv(blk), r.conv(lsec), off)
	}
	return 0
}

// printBAT is -b: count BAT entries from blk, as byte offsets.
func (r *reader) printBAT(blk uint64, count int64) int {
	if e := r.blockRange(blk + uint64(count)); e != 0 {
		return e
	}
	for i := int64(0); i < count && uint64(i) < compatBlocks(r.f); i++ {
		cur := blk + uint64(i)
		off := "not allocated"
		if e := r.entry(cur); e != vhd.Unallocated {
			off = r.conv(uint64(e) * vhd.SectorSize)
		}
		fmt.Fprintf(&r.text, "block: %s: offset: %s\n", r.conv(cur), off)
	}
	return 0
}

// printBATBitmap is -B: one bit per whole block of the virtual size, set
// for an allocated block, most significant bit first, as raw bytes.
func (r *reader) printBATBitmap() int {
	total := r.f.Footer.CurrentSize / uint64(r.f.Header.BlockSize)
	b := make([]byte, (total+7)/8)
	for i := uint64(0); i < total; i++ {
		if r.entry(i) != vhd.Unallocated {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	if _, err := r.raw.Write(b); err != nil {
		return errno(err)
	}
	return 0
}

// readBitmap reads the sector bitmap of an allocated block.
func (r *reader) readBitmap(e uint32) ([]byte, error) {
	b := make([]byte, r.bitmapBytes())
	_, err := r.fileReader().ReadAt(b, int64(e)*vhd.SectorSize)
	return b, err
}

// fileReader reads the file's own bytes.
func (r *reader) fileReader() io.ReaderAt { return rawFile{r.f.Name()} }

// rawFile reads a file by name, one open per read: read's raw dumps are
// few.
type rawFile struct{ name string }

func (f rawFile) ReadAt(p []byte, off int64) (int, error) {
	fd, err := os.Open(f.name)
	if err != nil {
		return 0, err
	}
	defer fd.Close()
	n, err := fd.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return n, err
}

// printBitmap is -m: the raw bitmap of count blocks from blk.
func (r *reader) printBitmap(blk uint64, count int64) int {
	if e := r.blockRange(blk + uint64(count)); e != 0 {
		return e
	}
	for i := int64(0); i < count; i++ {
		cur := blk + uint64(i)
		e := r.entry(cur)
		if e == vhd.Unallocated {
			fmt.Fprintf(&r.text, "block %s not allocated\n", r.conv(cur))
			continue
		}
		b, err := r.readBitmap(e)
		if err != nil {
			return errno(err)
		}
		if _, err := r.raw.Write(b); err != nil {
			return errno(err)
		}
	}
	return 0
}

// sectorBits calls fn with the bitmap bit of each of count sectors from
// sec.
func (r *reader) sectorBits(sec uint64, count int64, fn func(cur, blk, within uint64, bit int)) int {
	var bm []byte
	bmBlk := uint64(unset)
	for i := int64(0); i < count; i++ {
		cur := sec + uint64(i)
		blk, within := cur/r.spb(), cur%r.spb()
		e := r.entry(blk)
		if blk != bmBlk {
			bmBlk, bm = blk, nil
			if e != vhd.Unallocated {
				var err error
				if bm, err = r.readBitmap(e); err != nil {
					return errno(err)
				}
			}
		}
		bit := 0
		if bm != nil && bm[within/8]&(0x80>>(within%8)) != 0 {
			bit = 1
		}
		fn(cur, blk, within, bit)
	}
	return 0
}

// testBitmap is -i: the bitmap bit of each of count sectors from sec.
func (r *reader) testBitmap(sec uint64, count int64) int {
	if (sec+uint64(count))*vhd.SectorSize > r.f.Footer.CurrentSize {
		fmt.Fprintf(&r.text, "sector %s past end of file\n", r.conv(sec))
		return errERANGE
	}
	return r.sectorBits(sec, count, func(_, blk, within uint64, bit int) {
		fmt.Fprintf(&r.text, "block %s: sec: %s: %d\n", r.conv(blk), r.conv(within), bit)
	})
}

// printExtents is -e: the runs of sectors the file holds among count
// sectors from sec, as "start length" lines, from the file's extent map.
func (r *reader) printExtents(sec uint64, count int64) int {
	if (sec+uint64(count))*vhd.SectorSize > r.f.Footer.CurrentSize {
		fmt.Fprintf(&r.text, "sector %s past end of file\n", r.conv(sec))
		return errERANGE
	}
	if count <= 0 {
		return 0
	}
	lo, hi := int64(sec)*vhd.SectorSize, int64(sec+uint64(count))*vhd.SectorSize
	var start, end int64 = -1, -1
	flush := func() {
		if start >= 0 {
			fmt.Fprintf(&r.text, "%s %s\n", r.conv(uint64(start/vhd.SectorSize)), r.conv(uint64((end-start)/vhd.SectorSize)))
		}
		start = -1
	}
	for x, err := range r.f.Extents(context.Background()) {
		if err != nil {
			return errno(err)
		}
		if x.End() <= lo || !x.Data {
			if x.Offset >= lo && !x.Data && x.Offset < hi {
				flush()
			}
			if x.Offset >= hi {
				break
			}
			continue
		}
		if x.Offset >= hi {
			break
		}
		a, b := max(x.Offset, lo), min(x.End(), hi)
		if start >= 0 && a == end {
			end = b
			continue
		}
		flush()
		start, end = a, b
	}
	flush()
	return 0
}

// printBatmap is -a: the raw batmap.
func (r *reader) printBatmap() int {
	bm, err := r.f.Batmap()
	if err != nil {
		e := errno(err)
		fmt.Fprintf(&r.text, "failed to read batmap: -%d\n", e)
		return e
	}
	if _, err := r.raw.Write(bm.Map); err != nil {
		return errno(err)
	}
	return 0
}

// testBatmap is -j: the batmap bit of count blocks from blk, on stderr.
func (r *reader) testBatmap(blk uint64, count int64) int {
	if e := r.blockRange(blk + uint64(count)); e != 0 {
		return e
	}
	bm, err := r.f.Batmap()
	if err != nil {
		fmt.Fprintf(r.stderr, "failed to get batmap\n")
		return errno(err)
	}
	for i := int64(0); i < count; i++ {
		cur := blk + uint64(i)
		bit := 0
		if cur/8 < uint64(len(bm.Map)) && bm.Map[cur/8]&(0x80>>(cur%8)) != 0 {
			bit = 1
		}
		fmt.Fprintf(r.stderr, "batmap for block %s: %d\n", r.conv(cur), bit)
	}
	return 0
}

// printData is -d: the raw data of count blocks from blk.
func (r *reader) printData(blk uint64, count int64) int {
	if e := r.blockRange(blk + uint64(count)); e != 0 {
		return e
	}
	for i := int64(0); i < count; i++ {
		cur := blk + uint64(i)
		e := r.entry(cur)
		if e == vhd.Unallocated {
			fmt.Fprintf(&r.text, "block %s not allocated\n", r.conv(cur))
			continue
		}
		b := make([]byte, r.f.Header.BlockSize)
		if _, err := r.fileReader().ReadAt(b, int64(e)*vhd.SectorSize+r.bitmapBytes()); err != nil {
			return errno(err)
		}
		if _, err := r.raw.Write(b); err != nil {
			return errno(err)
		}
	}
	return 0
}

// readData is -r and -R: n bytes of the virtual disk at off, read through
// the chain, in pieces of at most 2 MiB.
func (r *reader) readData(off uint64, n int64, past bool) int {
	if past {
		return errERANGE
	}
	var src io.ReaderAt = r.f
	if r.f.HasParent() {
		c, err := chain.Walk(context.Background(), r.name, &chain.Options{Mode: chain.Compat, MaxDepth: maxDepth})
		if err != nil {
			return errno(err)
		}
		defer c.Close()
		src = c.ReaderAt()
	}
	buf := make([]byte, min(n, compatBlock))
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := src.ReadAt(buf[:k], int64(off)); err != nil {
			return errno(err)
		}
		if _, err := r.raw.Write(buf[:k]); err != nil {
			return errno(err)
		}
		off += uint64(k)
		n -= k
	}
	return 0
}
