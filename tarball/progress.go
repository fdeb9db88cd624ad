package tarball

import (
	"io"
	"os"
)

// Phase names what a Progress report is about.
type Phase string

// The phases of Pack and Unpack.
const (
	// PhasePack is Pack copying files into the archive.
	PhasePack Phase = "pack"
	// PhaseUnpack is Unpack extracting the archive.
	PhaseUnpack Phase = "unpack"
)

// Progress reports how far Pack or Unpack has got. Done counts the bytes
// whose total can be known before the work starts, so that Done/Total is
// the fraction done: for Pack the logical (uncompressed) bytes of the files
// copied so far, Total being the sum of the file sizes; for Unpack the
// compressed bytes read from r, Total being what r still held when Unpack
// started if r is a regular *os.File, else 0. Done never decreases during
// one call and Total never changes.
type Progress struct {
	// Phase is PhasePack or PhaseUnpack.
	Phase Phase
	// Name is the entry being copied (without "./"), "" between entries.
	Name string
	// Done and Total are described above.
	Done, Total int64
	// Logical is the number of uncompressed file bytes copied so far.
	Logical int64
	// Compressed is the number of compressed bytes written (Pack) or read
	// (Unpack) so far.
	Compressed int64
}

// remaining returns how many bytes r holds from its current offset when it
// is a regular file, else 0.
func remaining(r io.Reader) int64 {
	f, ok := r.(*os.File)
	if !ok {
		return 0
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || off > fi.Size() {
		return 0
	}
	return fi.Size() - off
}
