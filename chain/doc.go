// Package chain works on chains of VHD differencing disks: it resolves
// their parent locators, walks, validates and relinks them, and reads and
// writes through them, by default without ever leaving a given root
// directory.
//
// A differencing VHD holds only the sectors written since it was made; the
// others come from its parent, which may itself be a differencing disk. A
// chain runs from the leaf (the disk a VM writes) through interior nodes
// (hidden snapshots, in XenServer's terms) to a base, a dynamic or fixed
// disk. A child names its parent by the parent's footer UUID and by parent
// locators holding a path; blktap writes three, MacX, W2ku and W2ru, each
// relative to the child's directory. vhd/FORMAT.md describes the format and
// how blktap resolves a parent (its section 5).
//
// [Walk] follows the locators from a leaf to its base as blktap does and
// returns the open [Chain], each link's File attached to its parent; it
// names the file and the locator behind every failure, detects cycles by
// device and inode, and stops at [Options.MaxDepth] links (30, as
// XenServer's storage manager). With [Options.Writable] one link, the leaf
// by default, is open for writing: it reads what it does not hold through
// its parents, and the rest of the chain sees its writes. [Validate] walks
// and then checks every link with the vhd package's checker, the parent
// UUIDs tapdisk insists on and, in confined mode, the rules an imported
// image must meet; [CheckFile] checks one file with its parent. [Relink]
// gives every file of a sequence the next one as parent, as an importer
// must after renaming files, from the base up, so that a failure leaves
// the files already relinked a valid chain with the base.
//
// [Chain.ReaderAt] and [Chain.WriteRaw] read the leaf's virtual disk
// through the whole chain: for each range they ask the links from the leaf
// down which sectors they hold (BAT, sector bitmaps, blktap's batmap),
// read each run with one pread, and answer zeros without I/O for what no
// link holds. WriteRaw leaves holes in an output file where the disk reads
// as zeros.
//
// # Coalescing
//
// [Coalesce] copies every sector a child's bitmaps hold into its parent (a
// dynamic, fixed or differencing VHD, or a raw image), as blktap's vhd-util
// coalesce does, so that the parent reads as the child did; with
// CoalesceOptions.Into it copies a leaf and every link above an ancestor
// into that ancestor in one pass, each sector from the nearest link holding
// it. The child is never written; the parent keeps its UUID, hidden flag,
// virtual size and footer bytes. Every other child of the parent then reads
// the coalesced data too: [Children] lists a file's children in a
// directory. [CoalesceStep] is the storage manager's whole step: coalesce,
// relink the child's children to the parent, remove the child.
//
// The writes are ordered so that a crash at any point leaves a parent that
// opens and passes vhd.Check, each sector reading as before or as the
// child's, and so that running Coalesce again finishes the job with the
// bytes of an uninterrupted run, without any state file:
//
//  1. Before the first write both files pass vhd.Check and no child is
//     larger than its parent; the parent is flocked. A crash leaves it as
//     it was.
//  2. A dynamic or differencing parent that must allocate blocks first gets
//     its primary footer where its data will end once the copy is done (a
//     larger file, or a smaller one cut behind the new footer only once that
//     is synced), then a sync. A crash leaves the old blocks, unused space
//     and a valid footer at the end.
//  3. Then, in batches of up to 64 MiB: the batch's data goes into the
//     blocks the parent has (in place) and into its new blocks, with their
//     bitmaps, at the places blktap would give them; a sync; only then the
//     bitmaps of the blocks the parent already had and the one BAT sector
//     pointing at the batch's new blocks, which reach the disk with the next
//     batch's sync. A crash before a batch's metadata is durable leaves its
//     new blocks unused space and its sectors in the old blocks reading as
//     before (their bits unset) or, where the parent already held them, old
//     or new sector by sector. BAT sectors reach the disk in block order, so
//     the blocks a rerun finds allocated are the first of those planned, and
//     it places the rest where an uninterrupted run does.
//  4. A last sync makes the last metadata durable, and the directory is
//     synced if the file changed size; only then does Coalesce return.
//
// A fixed or raw parent is written in place with a sync after each batch.
// The batmap of a dynamic parent is left as it was: a block it does not
// mark full is read through its bitmap, which is always right. Syncing
// every batch and starting writeback as it goes (sync_file_range on Linux)
// keeps the dirty page cache bounded.
//
// In [Confined] mode, the default and the one an importer uses, the leaf
// and every parent must lie inside Options.Root once symbolic links are
// evaluated, and a locator that leads out of it, through "..", an absolute
// path or a symbolic link, is an error wrapping [ErrOutsideRoot], even if
// another slot would resolve; only regular files are opened. Validate then
// also requires a leaf that is not hidden, no child smaller than its
// parent, 2 MiB blocks, no fixed disk claiming more than its file holds
// and no two links with one UUID. In [Compat] mode, for a vhd-util
// work-alike, absolute locators are followed as written, block devices
// open (and [Coalesce] writes into a parent on one), a differencing disk
// with a raw parent ends the chain, and Validate
// adds no rules of its own beyond the checker's and the parent UUIDs.
//
// Confined mode exists because locators are data from whoever made the
// file: vhd-util follows any locator it can read, so a crafted base in an
// imported image could name another tenant's disk as its parent, and the
// imported chain would read, and after coalescing copy, that disk (the
// class of the qcow2 backing-file flaws). Paths are checked after
// evaluating symbolic links and opened by their real path; the files are
// then checked, through an [os.Root] on the root, to be the ones the root
// holds under those names. A process that can rename files inside the root
// while a walk runs could still race the metadata reads between the check
// and the open: the root is meant to be a staging directory only the
// importer writes.
package chain
