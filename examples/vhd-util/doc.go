// Command vhd-util is a drop-in replacement, in pure Go, for blktap's
// vhd-util for the commands XenServer's storage manager and nova's
// XenServer plugin run on their hot paths:
//
//	vhd-util query    -n NAME [-v] [-s] [-p] [-f] [-m] [-d] [-a] [-S] [-u]
//	vhd-util check    -n NAME [-i] [-I] [-t] [-p] [-b] [-B]
//	vhd-util set      -n NAME -f hidden|marker -v N
//	vhd-util modify   -n NAME -p NEWPARENT [-m]
//	vhd-util create   -n NAME -s MiB [-S MiB] [-r]
//	vhd-util snapshot -n CHILD -p PARENT [-m] [-e] [-l LIMIT] [-S MiB]
//
// It accepts the same flags with the same getopt(3) parsing (combined
// flags such as -vsafp, option arguments attached or separate, operands
// anywhere, "--"), removes every --debug argument after the command, and
// prints the same lines in the same order on the same stream: errors on
// standard output, getopt complaints and create's messages on standard
// error. The exit status is vhd-util's: 0, or a positive errno (22 for a
// format problem, 2 for a missing file or parent, 32 for an empty file, 21
// for a directory, 28 for snapshot's depth limit, 36 for a name too long).
// No arguments print the usage and exit 0; an unknown command prints
// "invalid COMMAND x" and the usage and exits 0, as vhd-util does.
//
// It runs in vhd-util's compatibility mode throughout: parents are
// resolved as blktap resolves them, through the chain package's
// compatibility resolver (absolute locators used as written when
// readable, no root directory), and check runs vhd.CheckFile with Compat
// set, so its verdicts and messages, its 2 MiB block assumptions in
// query -s, -a and -S, and its quirks (a fixed disk checks silently, -v
// floors to MiB, -d counts a raw parent) are vhd-util's. Everything is
// done in-process by the vhd and chain packages; nothing is executed.
//
// NAME may be a block device, such as the logical volume an LVM-based SR
// keeps a VHD in, as with vhd-util: the footer is the one at the device's
// end (query and read fall back to the copy at offset 0, as vhd-util
// does), and writes stay inside the device (vhd.OpenBlockDevice). query,
// check, read, set, modify -p, -s and -z, repair, fill, key, coalesce and
// resize work on one, and snapshot, modify -p and coalesce take a parent on
// one. Not yet: create or snapshot onto a device, resize -j when the table
// must grow past its sectors, repair -b, scan of devices and scan -l
// (volume groups). FIFOs and character devices are refused without
// blocking.
//
// # Differences from vhd-util
//
// Where vhd-util misbehaves in a way no caller can depend on, this command
// does better:
//
//   - set, modify -p and snapshot refuse a file (for snapshot, a parent)
//     that check rejects, before any write: exit 22 with vhd-util's output,
//     and the first problem on standard error ("NAME: not changed: it
//     fails check: ...", "PARENT: not used as a parent: ...").
//   - modify -p checks everything before its first write, writes the new
//     locators before the header and never over the live ones, and syncs
//     between steps, so an error or a crash never leaves a child
//     half-rewritten (vhd.File.SetParent); a disk is not made its own
//     parent.
//   - A header that fails open-time validation fails at once: there is no
//     ten-times one-second retry loop, in query or in check.
//   - Parent walks (query -d, check -p) stop at a cycle, found by device
//     and inode, with an error instead of running until file descriptors
//     run out; query -d also resolves a raw parent, which vhd-util counts
//     without looking for it.
//   - A batmap smaller than the map blktap reads for the virtual size makes
//     vhd-util abort on an assertion (exit 134, output lost); this command
//     reports EINVAL.
//   - Sizes above 2040 GiB (XenServer's limit; BAT entries cannot address
//     more than 2 TiB anyway) are refused: a footer claiming one does not
//     open, and create, snapshot -S and create -S refuse them, where
//     vhd-util's arithmetic wraps or it runs for minutes.
//   - snapshot refuses a parent whose size is not whole sectors.
//   - check reads no locator data past the locator's data space (vhd-util
//     decodes past its buffer), and calls a block that wraps past 2^32
//     sectors over no other block "clobbers footer" (vhd-util: valid).
//   - Files are not opened with O_DIRECT, and --debug enables no syslog;
//     the reads of query and check, and set's footer write, still fail
//     with the errno an O_DIRECT read or write would (EINVAL at an
//     unaligned offset).
//
// The usage texts are vhd-util's; the metadata dump that follows "NAME appears invalid; dumping metadata"
// (check) is this command's own (no script parses it). The marker of a
// VHD without a batmap lives in an extended attribute, which is read and
// written on Linux only.
//
// The package's tests compare all of this with blktap's vhd-util on a
// generated corpus of damaged files and arguments when VHDKIT_VHDUTIL
// names one (TestReference), and keep each difference fixed in a golden
// case (TestReferenceGolden, TestReferenceFixes).
package main
