package vhd

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// RepairOptions configure [File.Repair].
type RepairOptions struct {
	// DryRun makes Repair report what it would change and write nothing.
	DryRun bool
	// UUID is given to a disk whose footer carries the null UUID, as
	// vhd-util repair does; the zero value means a fresh random one.
	UUID UUID
}

// A RepairReport says what [File.Repair] changed or, with
// RepairOptions.DryRun, would change.
type RepairReport struct {
	// Source is the footer copy the new footers were made from.
	Source FooterSource
	// FooterOffset is where the primary footer goes: the end of the data
	// (FORMAT.md §9.3 End of the data).
	FooterOffset int64
	// OldFileSize and NewFileSize are the file's size before and after.
	OldFileSize, NewFileSize int64
	// Primary says the primary footer's bytes change (or it is written where
	// there was none); Backup the same of the copy at offset 0.
	Primary, Backup bool
	// UUIDAssigned says the footer had the null UUID and got UUID.
	UUIDAssigned bool
	UUID         UUID
}

// Changed reports whether the repair changes the file at all.
func (r *RepairReport) Changed() bool {
	return r.Primary || r.Backup || r.OldFileSize != r.NewFileSize
}

// Repair is vhd-util repair: the footer the file was opened with (see
// [OpenWithFooter] for repair -b's backup copy) is written as the primary
// footer at the end of the data, the file is cut right behind it, and a
// dynamic or differencing disk gets the same footer as its copy at offset 0
// (FORMAT.md §9.5 Rewriting the footer). A footer with the null UUID gets
// one. Nothing else changes: every block reads as before.
//
// The file is checked first as the repair would leave it, as every writer
// checks its input, and nothing is written when that is not sound. The order makes a crash at any point leave
// the old file or the repaired one: the primary footer is written and
// synced before the file is truncated (until then the old end of the file
// still answers as before), the truncation is synced before the copy at
// offset 0 changes, and that copy is synced before Repair returns. Nothing
// is written when the file already is what Repair would make it.
func (f *File) Repair(ctx context.Context, opts *RepairOptions) (*RepairReport, error) {
	if opts == nil {
		opts = &RepairOptions{}
	}
	if err := f.writable(); err != nil {
		return nil, err
	}
	if err := f.prepare(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ft := f.Footer
	rep := &RepairReport{Source: f.source, OldFileSize: f.size}
	if ft.UUID.IsZero() {
		ft.UUID = opts.UUID
		if ft.UUID.IsZero() {
			ft.UUID = NewUUID()
		}
		rep.UUIDAssigned = true
	}
	rep.UUID = ft.UUID
	ft.UpdateChecksum()
	eod, err := f.endOfData()
	if err != nil {
		return nil, err
	}
	if eod > f.size && !f.device {
		return nil, formatErr(f.name, "BAT", "", -1, ErrTruncated,
			"the data ends at %d, past the end of the file at %d: blocks are missing, refusing to repair", eod, f.size)
	}
	want := ft.bytes()
	rep.FooterOffset = eod
	rep.NewFileSize = eod + FooterSize
	if f.device {
		rep.FooterOffset = f.size - FooterSize
		rep.NewFileSize = f.size
	}
	if err := f.checkRepaired(ctx, want, rep.NewFileSize, ft.IsDynamic()); err != nil {
		return nil, err
	}
	rep.Primary = !f.bytesAre(rep.FooterOffset, want)
	rep.Backup = ft.IsDynamic() && !f.bytesAre(0, want)
	if opts.DryRun || !rep.Changed() {
		return rep, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := f.commitFooter(ft, want, rep.FooterOffset, rep.NewFileSize, rep.Primary, rep.Backup, "repair"); err != nil {
		return nil, err
	}
	return rep, nil
}

// commitFooter writes footer ft (encoded as want) as the primary footer at
// off and, with backup, at offset 0, and makes the file newSize bytes, in
// the order that leaves the old file or the new one after a crash: the
// primary written and synced, the file cut and synced, the copy at 0
// written and synced. The caller holds f.mu.
func (f *File) commitFooter(ft Footer, want []byte, off, newSize int64, primary, backup bool, op string) error {
	fail := func(step string, err error) error {
		return fmt.Errorf("vhd: %s: %s: %s: %w", f.name, op, step, err)
	}
	if primary {
		if _, err := f.w.WriteAt(want, off); err != nil {
			return fail(fmt.Sprintf("writing the primary footer at %d", off), err)
		}
		if err := f.Sync(); err != nil {
			return fail("syncing the primary footer", err)
		}
	}
	if !f.device && newSize != max(f.size, off+FooterSize) {
		t, ok := f.w.(interface{ Truncate(int64) error })
		if !ok {
			return fail("cutting the file", fmt.Errorf("the storage cannot be truncated"))
		}
		if err := t.Truncate(newSize); err != nil {
			return fail(fmt.Sprintf("truncating to %d", newSize), err)
		}
		if err := f.Sync(); err != nil {
			return fail("syncing the truncation", err)
		}
	}
	f.size = newSize
	f.Footer, f.source = ft, FooterPrimary
	if backup {
		if _, err := f.w.WriteAt(want, 0); err != nil {
			return fail("writing the footer copy at 0", err)
		}
		if err := f.Sync(); err != nil {
			return fail("syncing the footer copy at 0", err)
		}
	}
	return nil
}

// commitFooterAt commits ft as the footer of a file whose data ends at eod
// (on a block device, at the device's end): commitFooter writes each copy
// that does not hold ft already, and nothing is written when both do and
// the file has its size. The caller holds f.mu.
func (f *File) commitFooterAt(ft Footer, eod int64, op string) error {
	want := ft.bytes()
	off, newSize := eod, eod+FooterSize
	if f.device {
		off, newSize = f.size-FooterSize, f.size
	}
	primary := !f.bytesAre(off, want)
	backup := ft.IsDynamic() && !f.bytesAre(0, want)
	if !primary && !backup && newSize == f.size {
		f.Footer, f.source = ft, FooterPrimary
		return nil
	}
	return f.commitFooter(ft, want, off, newSize, primary, backup, op)
}

// checkRepaired checks the file as the repair would leave it, size bytes
// ending in footer (also at offset 0 when backup is set), and refuses what
// any writer refuses. The caller holds f.mu.
func (f *File) checkRepaired(ctx context.Context, footer []byte, size int64, backup bool) error {
	v := &repairedView{r: f.r, size: f.size, newSize: size, footer: footer, backup: backup}
	c := newChecker(ctx, v, size, &CheckOptions{Name: f.name})
	c.run()
	if c.fatal != nil {
		return c.fatal
	}
	if !c.soundForWriting() {
		return c.refusal("to repair")
	}
	return nil
}

// repairedView reads as the file will after a repair: the old bytes up to
// the new footer (zeros where the file is shorter), the footer, and with
// backup the footer at offset 0 too.
type repairedView struct {
	r             io.ReaderAt
	size, newSize int64
	footer        []byte
	backup        bool
}

func (v *repairedView) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= v.newSize {
		return 0, io.EOF
	}
	n := len(p)
	var err error
	if rest := v.newSize - off; int64(n) > rest {
		n, err = int(rest), io.EOF
	}
	q := p[:n]
	clear(q)
	if off < v.size {
		k := int(min(int64(n), v.size-off))
		if m, rerr := v.r.ReadAt(q[:k], off); m < k {
			return m, rerr
		}
	}
	foot := v.newSize - FooterSize
	overlay := func(at int64) {
		if at < off+int64(n) && at+FooterSize > off {
			lo, hi := max(at, off), min(at+FooterSize, off+int64(n))
			copy(q[lo-off:hi-off], v.footer[lo-at:hi-at])
		}
	}
	overlay(foot)
	if v.backup {
		overlay(0)
	}
	return n, err
}

// bytesAre reports whether the file holds want at off.
func (f *File) bytesAre(off int64, want []byte) bool {
	if off < 0 || off+int64(len(want)) > f.size {
		return false
	}
	got := make([]byte, len(want))
	if _, err := f.r.ReadAt(got, off); err != nil {
		return false
	}
	return bytes.Equal(got, want)
}
