// Package staging moves chains of VHDs into and out of a XenServer
// file-based storage repository (SR), all or nothing: the import of a
// Glance image or a migrated disk, and the export of a VDI chain as a
// gzip-compressed tar stream.
//
// # Staging areas
//
// Every operation works in a staging area: a directory inside the SR named
// with [Prefix] (".vhdkit-staging-" and a random suffix), so that links and
// renames into the SR are cheap and atomic and the SR's storage manager,
// which scans only top-level *.vhd files, does not see it. The area holds a
// journal, created with O_EXCL before anything else and exclusively locked
// with flock(2) for the operation's whole life, and a sub-directory "x" that
// images are extracted into; no archive entry can reach the journal. The
// area is removed when the operation ends, whatever the outcome. A
// migration directory passed to [ImportDir] on another device is refused
// with [ErrCrossDevice] before anything happens, never copied.
//
// # Names
//
// The VHDs of an image are ordered leaf first as 0.vhd, 1.vhd, ... by these
// rules, decided on the set of names ending in ".vhd" (other entries are
// skipped and never written):
//
//	names in the image                   sequence (0.vhd, 1.vhd, ...)
//	-----------------------------------  ---------------------------------------
//	0.vhd 1.vhd ... (n-1).vhd            as numbered; a gap is ErrGap
//	snap.vhd image.vhd base.vhd          in that order, as far as present
//	image.vhd alone                      0.vhd
//	any single X.vhd                     0.vhd
//	swap.vhd                             ignored
//	legacy and numbered names mixed      refused, ErrMixedNames
//	any other .vhd beside another        refused, ErrUnknownName
//	more than MaxDepth (30) VHDs         refused, chain.ErrTooDeep
//	no .vhd at all ("0.VHD", "disk.img") refused, ErrNoImages
//
// Everything outside the sequence is removed from the staging area before
// relinking. In a migration directory the VHDs must be regular files with
// a single hard link ([vhd.ErrNotRegular], [ErrHardLinked]): relinking writes in
// place.
//
// Names are case-sensitive, as in nova's XenServer plugin. A refusal lists
// the names the importer takes.
//
// UUIDs are given in sequence order, UUIDs[0] for the leaf; [FromStack]
// converts the plugin's uuid_stack, popped from its end. Too few, a
// duplicate, the nil UUID, or one that already names a file in the SR is
// a typed error before anything is written to the SR; none given means
// fresh ones.
//
// # Import
//
// [Import] extracts a tar stream through the tarball package with the name
// filter; [ImportDir] takes the sequence out of a filled migration
// directory. Each file is renamed to <uuid>.vhd inside the area.
//
// Then, before anything is written to any of them, every file must pass
// vhd.Check with every rule (its parent rules run against the next file
// of the sequence) and the chain's structural rules: the base is fixed or
// dynamic and every other file differencing, blocks are 2 MiB, the leaf is
// not hidden, no child is smaller than its parent. A crafted file refused
// here never reaches SetParent, which could otherwise rewrite it into one
// that passes, or move blocks and clear locator space its header claims
// (gigabytes of writes from a few kilobytes of archive).
//
// Only then is the chain relinked by sequence with chain.Relink (the
// image's own locators name files on the source host and are ignored),
// and the result validated again in confined mode with chain.Validate,
// rooted at the area: the chain is exactly the sequence (the parent of k
// is k+1, by device and inode) and every link passes. Interior VHDs keep
// their hidden flag, or all become hidden with ImportOptions.HideInterior.
// ImportOptions.BeforeCommit then runs (Glance compares its checksum
// there) before anything touches the SR.
//
// The commit moves the files into the SR base first and leaf last, each with
// renameat2(RENAME_NOREPLACE) or, where the file system refuses the flag
// (NFS answers EINVAL), link and unlink; neither ever replaces a file, so a
// retry with the same UUIDs fails with [ErrUUIDExists] instead of clobbering
// a VDI. Before each move the journal records the file's name, device and
// inode and is fsynced; after the last move the SR directory is fsynced and
// the journal gets a final "committed" record. The staged files were
// fsynced before the first move. Any error after the first move removes,
// last first, every recorded file that is still the one moved (same device
// and inode), so the SR is as it was. The [Result] names the leaf and every
// VHD and marshals to the JSON of nova's XenServer plugin,
// {"root": {"uuid": "..."}}, where "root" means the leaf.
//
// # The garbage collection window
//
// ImportOptions.Lock is called just before the first move and its unlock
// after the last; on XenServer it should take the storage manager's SR
// lock. Without it there is a window, from the first move to the last
// (milliseconds: a few renames and fsyncs), in which the SR holds hidden
// interior VHDs without their child. A garbage collection pass that scans
// the SR in that window may delete them as unreferenced, or try to coalesce
// them, leaving the leaf without its parent. Import moves parents before
// children so that a child is never visible without its parent, but only
// the lock closes the window.
//
// # Journal and Recover
//
// The journal is a text file, one record a line, each fsynced before the
// step it announces: a header naming the operation, then "move NAME DEV INO"
// before each move into the SR, then "committed"; a rollback writes
// "aborted" (which cancels a "committed" whose fsync failed) before it
// undoes anything and "rolled-back" when it is done. A
// process that dies leaves its area and journal behind, unlocked. [Recover]
// is safe to run at any time: it skips areas whose journal is locked
// (running operations), and for a dead import that did not commit it
// removes from the SR only the files whose name, device and inode match a
// move record, then the area; for a committed import, a rolled-back one or
// an export it removes only the area. An area without a journal record is
// removed once older than RecoverOptions.Grace. It reports what it did in a
// [RecoverReport].
//
// # Export
//
// [Export] hard-links the VDIs (leaf first, or only the leaf with the chain
// walked inside the SR) into an area as 0.vhd, 1.vhd, ... and streams them
// with tarball.Pack. It records each file's size, ctime and footer before
// streaming and checks them after, before the stream's trailers: any change
// (the SR coalesced a VDI meanwhile) fails with [ErrChanged] and the stream
// is left unterminated, so a receiver sees a truncated archive rather than
// a complete wrong one.
//
// # Errors and testing
//
// Errors are *[Error] values naming the operation and the file (a staged
// file by its name in the image, never by its path in the staging area),
// wrapping this package's sentinels and, where a rule is theirs, those of
// the tarball, chain and vhd packages, so that errors.Is(err,
// chain.ErrHiddenLeaf) holds for a hidden leaf. Every change to the file
// system goes through one internal layer, which the package's tests use to
// fail and crash at every step. The package is Linux only: it relies on
// renameat2, flock and device/inode numbers.
package staging
