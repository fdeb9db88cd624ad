//go:build linux

package staging

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// journalName is the journal's name inside a staging area, beside (not in)
// the sub-directory archives are extracted into.
const journalName = "journal"

// journalMagic opens the first line of every journal.
const journalMagic = "vhdkit-staging-journal 1"

// Journal record kinds.
const (
	recMove       = "move"        // move NAME DEV INO: about to move NAME into the SR
	recCommitted  = "committed"   // every move is done and synced
	recRolledBack = "rolled-back" // every moved file was removed again
	recAborted    = "aborted"     // a rollback starts: any earlier "committed" no longer holds
)

// journal is the append-only record of a staging area, held under an
// exclusive flock for the operation's whole life.
type journal struct {
	f    *os.File
	path string
	ops  fileOps
}

// createJournal creates the journal in dir exclusively, locks it and
// writes its first line.
func createJournal(dir, op string, ops fileOps) (*journal, error) {
	path := dir + "/" + journalName
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, newErr("journal", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, newErr("journal", path, fmt.Errorf("%w: flock: %v", ErrBusy, err))
	}
	j := &journal{f: f, path: path, ops: ops}
	host, _ := os.Hostname()
	if err := j.append(fmt.Sprintf("%s %s pid=%d host=%s time=%s", journalMagic, op, os.Getpid(), host,
		time.Now().UTC().Format(time.RFC3339))); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

// append writes one record and makes it durable before returning.
func (j *journal) append(rec string) error {
	if _, err := j.f.WriteString(rec + "\n"); err != nil {
		return newErr("journal", j.path, err)
	}
	if err := j.ops.Sync(j.path); err != nil {
		return newErr("journal", j.path, err)
	}
	return nil
}

// close releases the lock.
func (j *journal) close() error { return j.f.Close() }

// journalMove is a move record: a file about to be moved into the SR.
type journalMove struct {
	Name     string
	Dev, Ino uint64
}

// journalState is what a journal says.
type journalState struct {
	Op         string // "import" or "export"
	Moves      []journalMove
	Committed  bool
	RolledBack bool
}

// parseJournal reads a journal's records. A last line without its newline
// (a write the crash interrupted) is ignored.
func parseJournal(b []byte) (*journalState, error) {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	} else {
		b = nil
	}
	st := &journalState{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if line == 1 {
			if !strings.HasPrefix(sc.Text(), journalMagic+" ") || len(f) < 3 {
				return nil, fmt.Errorf("%w: line 1: not a staging journal", ErrJournal)
			}
			st.Op = f[2]
			continue
		}
		switch {
		case len(f) == 4 && f[0] == recMove:
			dev, err1 := strconv.ParseUint(f[2], 10, 64)
			ino, err2 := strconv.ParseUint(f[3], 10, 64)
			if err1 != nil || err2 != nil || strings.ContainsAny(f[1], "/\x00") || f[1] == "." || f[1] == ".." {
				return nil, fmt.Errorf("%w: line %d: bad move record %q", ErrJournal, line, sc.Text())
			}
			st.Moves = append(st.Moves, journalMove{Name: f[1], Dev: dev, Ino: ino})
		case len(f) == 1 && f[0] == recCommitted:
			st.Committed = true
		case len(f) == 1 && f[0] == recAborted:
			st.Committed = false
		case len(f) == 1 && f[0] == recRolledBack:
			st.RolledBack = true
		default:
			return nil, fmt.Errorf("%w: line %d: unknown record %q", ErrJournal, line, sc.Text())
		}
	}
	if line == 0 {
		return nil, fmt.Errorf("%w: empty", ErrJournal)
	}
	return st, sc.Err()
}

// fileID is a file's device and inode numbers.
type fileID struct{ Dev, Ino uint64 }

// idOf returns the device and inode of a file info from Lstat or Stat.
func idOf(fi os.FileInfo) fileID {
	st := fi.Sys().(*syscall.Stat_t)
	return fileID{Dev: uint64(st.Dev), Ino: st.Ino}
}

// lstatID returns path's device and inode, without following a symlink.
func lstatID(path string) (fileID, os.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return fileID{}, nil, err
	}
	return idOf(fi), fi, nil
}

// nlink returns a file's hard link count.
func nlink(fi os.FileInfo) uint64 { return uint64(fi.Sys().(*syscall.Stat_t).Nlink) }

// ctime returns a file's status change time.
func ctime(fi os.FileInfo) time.Time {
	st := fi.Sys().(*syscall.Stat_t)
	return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
}

// tryLock takes the exclusive lock of an open journal without waiting. It
// returns false when another process holds it.
func tryLock(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
