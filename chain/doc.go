// Package chain resolves, walks, validates, relinks and reads chains of
// VHD differencing disks, by default without ever leaving a given root
// directory.
//
// # Chains
//
// A differencing VHD holds only the sectors written since it was made; the
// others come from its parent, which may itself be a differencing disk. The
// chain runs from the leaf (the disk a VM writes) through interior nodes
// (hidden snapshots, in XenServer's terms) to a base, a dynamic or fixed
// disk. A child names its parent in its header: the parent's footer UUID,
// the parent file's modification time, its base name, and up to eight
// parent locators holding a path. blktap writes three locators, MacX, W2ku
// and W2ru, each a path relative to the child's directory.
//
// [Walk] follows the locators from a leaf to its base exactly as blktap
// resolves them (slots in index order, only MacX, W2ku and W2ru decoded,
// paths taken relative to the child's real directory after symbolic links,
// the first slot that decodes and resolves winning) and returns the open
// [Chain]. It detects cycles by device and inode, refuses chains longer than
// [Options.MaxDepth] (30, as XenServer's storage manager), and names the
// file and the locator behind every failure. [Validate] walks and then
// checks every link with the vhd package's checker, the parent UUIDs that
// tapdisk insists on, and, in confined mode, the rules an imported image
// must meet. [Relink] gives every file of a sequence the next one as parent,
// as an importer must after renaming files. [Chain.ReaderAt] and
// [Chain.WriteRaw] read the leaf's virtual disk through the whole chain.
//
// # Two modes
//
// In [Confined] mode, the default and the one an importer uses, a root
// directory is required; the leaf and every parent must lie inside it once
// symbolic links are evaluated, and a locator that leads out of it, through
// "..", an absolute path or a symbolic link, is an error (*LocatorError
// wrapping [ErrOutsideRoot]) naming the child, the slot and the path, even
// if another slot would have resolved. Validate then also requires that the
// leaf is not hidden, that no child is smaller than its parent and that
// every dynamic or differencing link has 2 MiB blocks.
//
// In [Compat] mode there is no root: absolute locators are used as written
// when readable, a differencing disk with a raw parent ends the chain, and
// Validate adds no rules of its own beyond the checker's and the parent
// UUIDs, so that a vhd-util work-alike gives vhd-util's answers.
//
// # Reading through a chain
//
// Walk attaches every link's parent ([vhd.File.AttachParent]), so the
// leaf's File.ReadAt already reads the whole chain. [Chain.ReaderAt] gives
// the same bytes faster: for each range it asks the links from the leaf down
// which sectors they hold (BAT, sector bitmaps, and blktap's batmap for
// fully written blocks), reads each run of sectors with one pread, answers
// zeros for sectors no link holds (and for sectors past the end of a parent
// smaller than its child) without any I/O, and passes only what is still
// missing to the next link. [Chain.WriteRaw] streams the whole virtual disk
// that way in 8 MiB chunks, reading the next chunk while it writes the last,
// and leaves holes in an output file where the disk reads as zeros.
//
// # Writing through a chain
//
// With [Options.Writable], Walk opens one link, the leaf unless
// [Options.WriteDepth] names another, for writing and every other link
// read-only. The written link reads what it does not hold through its
// parents, so a partial-sector write merges with their data; the links
// nearer the leaf, Chain.ReaderAt and Chain.WriteRaw see its writes at
// once; [Chain.Close] syncs it. This is what a program that writes to a
// snapshot, or coalesces one into its parent, needs instead of opening
// files and attaching parents itself.
//
// # Relinking
//
// Relink checks all of its input first, then relinks from the base up with
// vhd.File.SetParent, which replaces each child's header atomically. If a
// step fails, the files already relinked form a valid chain with the base,
// and the failing child and those nearer the leaf are untouched; the
// *RelinkError says which is which.
//
// # The threat
//
// A VHD's parent locators are data from whoever made the file. vhd-util
// follows any locator it can read, absolute paths included, so a crafted
// base in an imported image can name another tenant's disk on the same host
// as its parent, and the imported chain then reads (and, after coalescing,
// copies) that disk: parent-pointer injection, the same class as the qcow2
// backing-file and VMDK descriptor flaws of image services. Confined mode
// closes it: nothing outside the root is ever opened through a locator.
//
// Paths are checked after evaluating symbolic links and then opened by
// their real path; a confined Resolver then checks, through an [os.Root] on
// the root, that the root holds the file it opened under that name, and the
// read-through engine opens every file it reads bytes from through that
// os.Root and checks it is the file the walk opened. A process that can
// rename files inside the root while a walk runs could still race the
// metadata reads between the check and the open; the root is meant to be a
// staging directory only the importer writes.
package chain
