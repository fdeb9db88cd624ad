package vhd

import (
	"fmt"
	"io"
	"os"
)

// OpenWithFooter opens the named VHD as [OpenFile] does, but trusts only
// the footer copy src: [FooterPrimary] (at the end of the file) or
// [FooterBackup] (the copy at offset 0 that dynamic and differencing disks
// carry). It does not fall back to the other copy. This is vhd-util's
// "fast" open (scan -f), which reads the copy at offset 0 and the header
// and nothing else (FORMAT.md §14 Opening a file as libvhd does), and the
// open behind repair -b, which rebuilds the primary footer from the backup
// (FORMAT.md §3.3 Which copy is used). A fixed disk has no copy at offset
// 0, so FooterBackup refuses it with an error matching [ErrCookie] or
// [ErrChecksum]. Like [Open] it never blocks on a FIFO.
func OpenWithFooter(name string, flag int, src FooterSource) (*File, error) {
	if src != FooterPrimary && src != FooterBackup {
		return nil, fmt.Errorf("vhd: open %s: footer source %v: want primary or backup", name, src)
	}
	if flag != os.O_RDONLY && flag != os.O_RDWR {
		return nil, fmt.Errorf("vhd: open %s: unsupported flags %#x: want os.O_RDONLY or os.O_RDWR", name, flag)
	}
	o, err := openFile(name, flag, 0, false)
	if err != nil {
		return nil, err
	}
	if flag == os.O_RDONLY {
		r := o.reader(name)
		vf, err := newFileFrom(r, o.size, name, src)
		if err != nil {
			r.Close()
			return nil, err
		}
		vf.closer = r
		return vf, nil
	}
	f := o.osFile(name)
	vf, err := newFileFrom(f, o.size, name, src)
	if err != nil {
		f.Close()
		return nil, err
	}
	vf.osFile, vf.w = f, f
	return vf, nil
}

// newFileFrom is newFile with the footer taken only from src.
func newFileFrom(r io.ReaderAt, size int64, name string, src FooterSource) (*File, error) {
	f := &File{name: name, r: r, size: size, source: src}
	if size < FooterSize {
		return nil, formatErr(name, src.String()+" footer", "", -1, ErrTruncated, "file of %d bytes is too small for a footer", size)
	}
	off := int64(0)
	if src == FooterPrimary {
		off = size - FooterSize
	}
	buf := make([]byte, FooterSize)
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("vhd: %s: reading %s footer at %d: %w", name, src, off, err)
	}
	if err := f.Footer.UnmarshalBinary(buf); err != nil {
		return nil, formatErr(name, src.String()+" footer", "", off, ErrFormat, "%v", err)
	}
	if err := f.Footer.openValid(); err != nil {
		return nil, formatErr(name, src.String()+" footer", "", off, err, "%v", err)
	}
	if f.Footer.CreatorApp == CreatorTap && f.Footer.CreatorVersion == tapVersion01 {
		return nil, formatErr(name, f.footerPart(), "creator version", off+footerOffCreatorVer, ErrFormat,
			"blktap creator version 0.1 is not supported")
	}
	if f.Footer.IsDynamic() {
		if err := f.readHeader(); err != nil {
			return nil, err
		}
	}
	return f, nil
}
