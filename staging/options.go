package staging

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/vhdkit/vhdkit/vhd"
)

// DefaultMaxDepth is the longest chain Import accepts when
// ImportOptions.MaxDepth is 0; XenServer's storage manager uses 30 too.
const DefaultMaxDepth = 30

// ImportOptions tunes Import and ImportDir. The zero value (or nil) imports
// with fresh UUIDs, fsync on and no lock hook.
type ImportOptions struct {
	// UUIDs name the imported VHDs in sequence order: UUIDs[0] for 0.vhd
	// (the leaf), UUIDs[1] for 1.vhd, ... Extra UUIDs are unused. Nil means
	// fresh random UUIDs. Use FromStack for the uuid_stack of nova's
	// XenServer plugin.
	UUIDs []vhd.UUID
	// HideInterior sets the hidden flag of every VHD but the leaf; without
	// it interior VHDs keep the flag they arrived with.
	HideInterior bool
	// MaxDepth limits the number of VHDs; 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxFileSize and MaxTotalSize limit the extracted bytes of one file
	// and of the whole archive; 0 means the tarball package's defaults.
	MaxFileSize, MaxTotalSize int64
	// NoSync turns off the fsyncs of the staged files, the SR directory
	// and the journal's records (a crash can then lose data).
	NoSync bool
	// BeforeCommit, if not nil, runs after everything has been extracted,
	// relinked and validated and before anything touches the SR; an error
	// aborts the import. Glance's checksum is compared here.
	BeforeCommit func(ctx context.Context, r *Result) error
	// Lock, if not nil, is called just before the first file moves into the
	// SR and must return once the caller holds the SR's lock (on XenServer,
	// the storage manager's SR lock); unlock is called after the last move
	// is durable, or after a rollback. Without a lock see "The garbage
	// collection window" in the package documentation.
	Lock func(ctx context.Context) (unlock func(), err error)
	// Progress, if not nil, is called as the import proceeds, from the
	// calling goroutine (see Progress for what Done counts).
	Progress func(Progress)
	// Logger receives what the import does; nil means silent.
	Logger *slog.Logger

	// ops performs the file-system changes; nil means osFileOps. The
	// package's fault tests inject failures through it.
	ops fileOps
}

// ExportOptions tunes Export. The zero value (or nil) exports the listed
// VHDs at gzip level 6 on every core.
type ExportOptions struct {
	// Chain says the UUID list holds only the leaf: the chain is walked
	// inside the SR (confined to it) and exported leaf first.
	Chain bool
	// MaxDepth limits the chain walk; 0 means DefaultMaxDepth.
	MaxDepth int
	// Level is the gzip level 1-9; 0 means 6.
	Level int
	// Concurrency is the number of blocks compressed at once; 0 means
	// every core.
	Concurrency int
	// Progress, if not nil, is called as the stream is written.
	Progress func(Progress)
	// Logger receives what the export does; nil means silent.
	Logger *slog.Logger

	// ops performs the file-system changes; nil means osFileOps.
	ops fileOps
}

// Phase names the step of an import or export a Progress report is about.
type Phase string

// The phases of Import, ImportDir and Export, in the order they happen.
const (
	// PhaseExtract is Import reading the archive into the staging area.
	PhaseExtract Phase = "extract"
	// PhaseCheck is the check of every staged file, before anything is
	// written to it.
	PhaseCheck Phase = "check"
	// PhaseRelink is the relinking of the staged chain.
	PhaseRelink Phase = "relink"
	// PhaseValidate is the validation of the relinked chain.
	PhaseValidate Phase = "validate"
	// PhaseCommit is the move into the SR.
	PhaseCommit Phase = "commit"
	// PhasePack is Export streaming the chain.
	PhasePack Phase = "pack"
)

// Progress reports how far an import or export has got.
//
// Done counts the bytes whose total can be known before the work starts,
// so that Done/Total is the fraction done: for Import the compressed bytes
// read from the archive, Total being the archive's size when the reader is
// a regular *os.File (else 0); for Export the bytes of the VHD files
// streamed so far, Total being the sum of their sizes. ImportDir streams
// nothing: its Done and Total stay 0. Done never decreases during one call
// (the phases after the extraction report the final count again) and
// Total, once known, never changes.
type Progress struct {
	// Phase is the step being worked on.
	Phase Phase
	// Name is the file being worked on (its name in the archive, such as
	// "0.vhd"), or "" between files.
	Name string
	// Done and Total are described above.
	Done, Total int64
	// Logical is the number of uncompressed file bytes extracted or packed
	// so far.
	Logical int64
	// Compressed is the number of compressed bytes read or written so far.
	Compressed int64
}

// VDI describes one imported or exported VHD.
type VDI struct {
	UUID     vhd.UUID     // the VDI's UUID, its file name in the SR without ".vhd"
	Path     string       // its path in the SR
	Source   string       // its name in the archive or directory ("0.vhd", "snap.vhd", ...)
	FileSize int64        // the file's size in bytes
	Type     vhd.DiskType // fixed, dynamic or differencing
	Hidden   bool         // the footer's hidden flag
}

// Result describes an import. Marshalled to JSON it is the answer of nova's
// XenServer plugin, {"root": {"uuid": "<leaf UUID>"}} ("root" there means
// the leaf).
type Result struct {
	// Leaf is the leaf, 0.vhd: the disk a VM writes.
	Leaf VDI
	// VDIs lists every imported VHD, leaf first.
	VDIs []VDI
	// Compressed counts the bytes read from the archive and Logical the
	// bytes extracted, skipped entries included (Import only; 0 for
	// ImportDir).
	Compressed, Logical int64
	// Fallback reports that the SR's file system refused RENAME_NOREPLACE
	// and files were moved with link and unlink.
	Fallback bool
}

// MarshalJSON encodes the result as nova's XenServer plugin does:
// {"root": {"uuid": "<leaf UUID>"}}.
func (r *Result) MarshalJSON() ([]byte, error) {
	type root struct {
		UUID string `json:"uuid"`
	}
	return json.Marshal(struct {
		Root root `json:"root"`
	}{root{r.Leaf.UUID.String()}})
}

// ExportResult describes an export.
type ExportResult struct {
	// VDIs lists the exported VHDs, leaf first, as 0.vhd, 1.vhd, ...
	VDIs []VDI
	// Logical is the sum of the file sizes; Compressed the number of
	// compressed bytes written.
	Logical, Compressed int64
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
