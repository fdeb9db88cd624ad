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
// In [Confined] mode, the default and the one an importer uses, the leaf
// and every parent must lie inside Options.Root once symbolic links are
// evaluated, and a locator that leads out of it, through "..", an absolute
// path or a symbolic link, is an error wrapping [ErrOutsideRoot], even if
// another slot would resolve; only regular files are opened. Validate then
// also requires a leaf that is not hidden, no child smaller than its
// parent, 2 MiB blocks, no fixed disk claiming more than its file holds
// and no two links with one UUID. In [Compat] mode, for a vhd-util
// work-alike, absolute locators are followed as written, block devices
// open, a differencing disk with a raw parent ends the chain, and Validate
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
