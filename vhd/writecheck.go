package vhd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// checkForWrite runs the full default [Check] on the file before the first
// change this File makes to it, and refuses a file with problems: a writer
// must never act on numbers Check refuses (a BAT entry far past the end of
// the file would make the footer move there, a locator claiming 4 GiB would
// be zeroed). The parent rules are not required, since no parent opener is
// at hand and SetParent exists to mend them. A File this package created
// needs no check. A File opened from its backup footer (the primary one
// missing or invalid) is checked as the file it becomes once a writer puts
// the primary footer back: with the backup copy appended. The error wraps
// the *CheckError with every problem.
func (f *File) checkForWrite(ctx context.Context, op string) error {
	return f.checkForWriteExcept(ctx, op, nil)
}

// beginWrite is the start most writers share: the file checked as
// checkForWrite checks it (op names the write in a refusal), its tables
// loaded, then f.mu taken, which the caller releases, and ctx not done yet.
func (f *File) beginWrite(ctx context.Context, op string) error {
	if err := f.checkForWrite(ctx, op); err != nil {
		return err
	}
	if err := f.prepare(); err != nil {
		return err
	}
	f.mu.Lock()
	if err := ctx.Err(); err != nil {
		f.mu.Unlock()
		return err
	}
	return nil
}

// checkForWriteExcept is checkForWrite that lets a writer go ahead when
// every problem found is one that allowed says the write itself mends (for
// SetHidden, a hidden flag out of range). The File is then not marked
// checked: the next writer checks again.
func (f *File) checkForWriteExcept(ctx context.Context, op string, allowed func(Problem) bool) error {
	if f.checked {
		return nil
	}
	var r io.ReaderAt = f.r
	size := f.FileSize()
	if f.source == FooterBackup {
		r = &footerAppended{r: f.r, size: size, footer: f.Footer.bytes()}
		size += FooterSize
	}
	c := newChecker(ctx, r, size, &CheckOptions{Name: f.name})
	c.run()
	if c.fatal != nil {
		return c.fatal
	}
	if !c.soundForWriting() {
		torn := false
		mends := func(p Problem) bool {
			if errors.Is(p.Err, ErrBackupMismatch) && f.tornFooterCommit() {
				torn = true
				return true
			}
			return allowed != nil && allowed(p)
		}
		if c.otherNotRun == 0 && c.rep.Truncated == 0 && len(c.rep.Problems) > 0 &&
			!slices.ContainsFunc(c.rep.Problems, func(p Problem) bool { return !mends(p) }) {
			if torn {
				if err := f.completeFooterCommit(op); err != nil {
					return err
				}
			}
			return nil
		}
		return c.refusal("to " + op)
	}
	f.checked = true
	return nil
}

// badHiddenOnly reports whether p is the footer rule SetHidden mends: a
// hidden flag other than 0 or 1, in the primary or the backup footer.
func badHiddenOnly(p Problem) bool {
	return (p.Part == "primary footer" || p.Part == "backup footer") && strings.HasSuffix(p.Msg, "invalid 'hidden' state")
}

// footerAppended reads as r (of size bytes) followed by footer.
type footerAppended struct {
	r      io.ReaderAt
	size   int64
	footer []byte
}

func (a *footerAppended) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < a.size {
		k := int(min(int64(len(p)), a.size-off))
		m, err := a.r.ReadAt(p[:k], off)
		if m < k {
			return m, err
		}
		n = k
	}
	for n < len(p) {
		pos := off + int64(n) - a.size
		if pos >= int64(len(a.footer)) {
			return n, io.EOF
		}
		n += copy(p[n:], a.footer[pos:])
	}
	return n, nil
}

// checkParentFile runs the full default Check on a VHD that is to become a
// parent (of SetParent or Snapshot) and refuses one with problems; its own
// parent rules are not required.
func checkParentFile(ctx context.Context, p *File) error {
	c := newChecker(ctx, p.r, p.FileSize(), &CheckOptions{Name: p.name})
	c.run()
	if c.fatal != nil {
		return c.fatal
	}
	if !c.soundForWriting() {
		return c.refusal("it as a parent")
	}
	return nil
}

// A footer commit (SetHidden, Grow, Revert, Repair: see commitFooter)
// writes the primary footer, syncs, then writes the copy at offset 0 and
// syncs. No order of two sector writes is atomic: a crash between them
// leaves a torn commit, a valid primary footer with the new value and a
// valid copy at 0 with the old one. Every reader uses the primary, so the
// disk is in its new state; Check reports the two copies' mismatch, as
// vhd-util check does, and the next writer (or Repair, or vhd-util repair)
// completes the commit before it changes anything else. See FORMAT.md,
// rewriting the footer.

// tornFooterCommit reports whether the copy at offset 0 differs from the
// primary footer only in what a footer commit changes: the hidden flag,
// the current size and geometry, and so the checksum.
func (f *File) tornFooterCommit() bool {
	if f.source != FooterPrimary || !f.Footer.IsDynamic() {
		return false
	}
	b := make([]byte, FooterSize)
	if err := f.readFull(b, 0); err != nil {
		return false
	}
	var old Footer
	if err := old.UnmarshalBinary(b); err != nil {
		return false
	}
	cur := f.Footer
	old.Hidden, old.CurrentSize, old.Geometry, old.Checksum = cur.Hidden, cur.CurrentSize, cur.Geometry, cur.Checksum
	return bytes.Equal(old.bytes(), cur.bytes())
}

// completeFooterCommit finishes a torn footer commit: the primary footer
// copied to offset 0, and synced.
func (f *File) completeFooterCommit(op string) error {
	if err := f.writable(); err != nil {
		return err
	}
	if _, err := f.w.WriteAt(f.Footer.bytes(), 0); err != nil {
		return fmt.Errorf("vhd: %s: %s: completing a torn footer commit (the copy at 0): %w", f.name, op, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("vhd: %s: %s: syncing the footer copy at 0: %w", f.name, op, err)
	}
	return nil
}
