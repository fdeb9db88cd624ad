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
	// fresh random UUIDs. Use FromStack for the seed's uuid_stack.
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
	// and the journal's records (tests only: a crash can then lose data).
	NoSync bool
	// RawHook sees every compressed byte Import reads, for example to hash
	// the stream (Glance's MD5). Not used by ImportDir.
	RawHook func(p []byte)
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
	// calling goroutine.
	Progress func(Progress)
	// Logger receives what the import does; nil means silent.
	Logger *slog.Logger
	// Ops performs the file-system changes; nil means OSFileOps. Tests
	// inject failures through it.
	Ops FileOps
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
	// Ops performs the file-system changes; nil means OSFileOps.
	Ops FileOps
}

// Progress reports how far an import or export has got.
type Progress struct {
	// Phase is "extract", "relink", "validate", "commit" (imports) or
	// "pack" (exports).
	Phase string
	// Entry is the file being worked on, "" between files.
	Entry string
	// Done is the number of uncompressed bytes extracted or packed so far;
	// Total is their total when known (exports), else 0.
	Done, Total int64
	// Compressed is the number of compressed bytes read or written so far.
	Compressed int64
}

// VDI describes one imported or exported VHD.
type VDI struct {
	UUID   vhd.UUID     // the VDI's UUID, its file name in the SR without ".vhd"
	Path   string       // its path in the SR
	Source string       // its name in the archive or directory ("0.vhd", "snap.vhd", ...)
	Size   int64        // file size in bytes
	Type   vhd.DiskType // fixed, dynamic or differencing
	Hidden bool         // the footer's hidden flag
}

// Result describes an import. Marshalled to JSON it is the seed's answer,
// {"root": {"uuid": "<leaf UUID>"}}.
type Result struct {
	// Root is the leaf, 0.vhd.
	Root VDI
	// VDIs lists every imported VHD, leaf first.
	VDIs []VDI
	// Compressed and Logical count the bytes read from the stream and
	// extracted (Import only).
	Compressed, Logical int64
	// Fallback reports that the SR's file system refused RENAME_NOREPLACE
	// and files were moved with link and unlink.
	Fallback bool
}

// MarshalJSON encodes the result as the seed did: {"root": {"uuid": ...}}.
func (r *Result) MarshalJSON() ([]byte, error) {
	type root struct {
		UUID string `json:"uuid"`
	}
	return json.Marshal(struct {
		Root root `json:"root"`
	}{root{r.Root.UUID.String()}})
}

// ExportResult describes an export.
type ExportResult struct {
	// VDIs lists the exported VHDs, leaf first, as 0.vhd, 1.vhd, ...
	VDIs []VDI
	// BytesIn is the sum of the file sizes; BytesOut the compressed bytes.
	BytesIn, BytesOut int64
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
