// Package vhd reads, checks, creates and modifies Virtual Hard Disk (VHD)
// images as XenServer's blktap writes and reads them.
//
// # The format
//
// A VHD is a sequence of 512-byte sectors with big-endian integers. Every VHD
// ends with a 512-byte [Footer] that names the disk type, the virtual size, a
// UUID and a checksum. A fixed disk is the raw virtual disk followed by that
// footer. Dynamic and differencing disks keep a copy of the footer at offset 0,
// a 1024-byte dynamic disk [Header] (at 512 in files blktap writes), and a
// block allocation table (BAT) of 32-bit sector offsets, one per block of
// [Header.BlockSize] bytes (2 MiB in practice). An allocated block is a sector
// bitmap, one bit per data sector with the most significant bit first,
// followed by the block's data sectors; blktap aligns the data of each block
// to 4 KiB. A sector whose bit is clear reads as zeros on a dynamic disk and
// from the parent on a differencing disk.
//
// A differencing disk names its parent three ways: the parent's footer UUID
// and the parent file's modification time in the header, the parent's base
// name in UTF-16BE in the header, and up to eight [ParentLocator] entries
// whose data holds a path. blktap writes three relative locators, MacX
// ("file://./p.vhd" in UTF-8) and W2ku and W2ru (".\p.vhd" in UTF-16LE).
// This package decodes locators but never opens a path it decoded from a
// file: resolving them is the job of a [ParentOpener], which the chain
// package provides.
//
// blktap adds two extensions: byte 85 of the footer is the "hidden" flag
// that marks interior nodes of a snapshot chain, and files whose creator is
// "tap" keep a [Batmap] after the BAT, one bit per block that is set when the
// block is fully written, with a one-byte "marker" in its header.
//
// FORMAT.md, beside this package's source, describes all of this in detail,
// with vhd-util's check rules and commands, in numbered sections.
//
// # Using the package
//
// [Open] and [New] read a file, falling back from the primary footer to a
// 511-byte short footer and then to the backup copy at offset 0, as blktap
// does; [File.FooterSource] says which copy was used. [File.Check] applies
// every rule blktap's vhd-util check applies and reports all problems at
// once; [CheckReport.Valid] is true only when every rule ran and passed.
// [Create] makes fixed, dynamic and differencing disks with blktap's layout,
// [File.WriteAt] and [File.ReadAt] access the virtual disk, and
// [File.SetHidden] and [File.SetParent] change a disk's flags and parent.
// The other commands of blktap's vhd-util have their methods here too:
// [File.Repair] (repair), [File.Grow] and [File.Revert] (resize, with a
// journal of this package's own, and revert), [File.Unallocate]
// (modify -z), [File.Fill] and [File.Allocate] (fill), and [File.Extents]
// and [NewStreamReader] for the layout and a VHD stream of one file.
//
// # Crash safety
//
// Every method that changes a disk's metadata orders its writes so that a
// crash at any point leaves the old disk or the new one, each of which
// opens, passes the full default Check and reads the same data, and
// returns only once the change is durable (synced). [File.WriteAt] is a
// file write: durable after [File.Sync], as with os.File. Blocks move by copy, sync, then the BAT
// entry; metadata that cannot be rewritten in place goes through a copy
// behind a single header write. The one state that is neither is inherent
// in a format with two footer copies: a crash between them leaves the new
// primary and the old copy at offset 0, a torn footer commit that Check
// reports and the next writer completes (FORMAT.md, rewriting the footer).
//
// # Hostile files
//
// A VHD may come from a stranger, so no number read from a file buys memory,
// disk writes or CPU beyond what the file's declared size needs and fixed
// ceilings allow: a virtual size above 2040 GiB ([MaxSize]) is refused at
// open, only the BAT entries and batmap bytes the virtual size needs are read
// (in bounded pieces, however many the header claims), metadata offsets past
// any possible VHD are a [FormatError] naming the field, and no arithmetic on
// them can overflow. Every function that opens a path refuses at once, without
// blocking, anything but a regular file ([NotRegularError]; [OpenBlockDevice]
// and [CheckOptions.BlockDevice] accept block devices, and so do [Snapshot]
// and [File.SetParent] for the parent they are given, which they only read).
// Every writer ([File.WriteAt], [File.SetHidden], [File.SetMarker],
// [File.SetParent] and the others above) runs the full default Check before
// its first change and refuses a file with problems, and a refused or failed
// write leaves the file as it was.
//
// The package is safe for concurrent reads of one [File]; writes must not run
// concurrently with other calls on the same File.
package vhd
