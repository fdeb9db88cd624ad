// Package tarball writes and reads the gzip-compressed tar archives that
// carry disk images between hosts, using every core for compression and
// accepting from strangers only what an image may hold.
//
// # Format
//
// An archive is what `tar -zc --directory=DIR .` makes: gzip over a GNU tar
// stream holding a "./" directory entry and then one regular file per image,
// "./0.vhd", "./1.vhd", and so on. Pack writes exactly that, with GNU headers
// (base-256 sizes for files of 8 GiB and more), gzip-compressed on every core
// as a series of gzip members, one per BlockSize (1 MiB) of the tar stream,
// each an independent deflate stream. Every gzip reader decodes such a
// stream unchanged (GNU tar -z, gzip, pigz, Python's gzip and tarfile
// "r:gz"; not Python's stream mode "r|gz", which reads only the first
// member, and in Python 3.11 fails on any FEXTRA field). Each
// member's header carries its compressed length in an FEXTRA subfield "VK",
// so that Unpack finds the pieces from a pipe, without seeking or inflating,
// and decodes them on every core; an empty final member carries the length
// and CRC-32 of everything before it. The output is about 5% larger than
// gzip -6's.
//
// Unpack reads names with or without the leading "./", in any order, GNU,
// ustar and PAX headers, GNU sparse members (old GNU and PAX 0.0, 0.1 and
// 1.0: their holes are skipped, never expanded, so they cost no CPU), and any
// gzip stream: members without the index, from any other writer, are decoded
// serially, in a goroutine of their own, so that reading, inflating,
// checksumming and writing overlap. Unpack inflates with a decoder of its
// own, which reads the compressed bytes eight at a time and decodes into
// the output buffer, about 1.8 times as fast as klauspost/compress/flate
// and 2.3 times compress/flate on disk images (BenchmarkInflate); it
// accepts exactly what compress/flate accepts and decodes it to the same
// bytes. A member whose index does not agree with
// its data (a wrong length, a piece running into the next, a promise of more
// bytes than follow) is refused, never mis-decoded; every member's CRC-32 and
// length are checked, and errors about the compressed stream name the offset
// of the member where they were found.
//
// # Writing
//
// Pack records each file's size once, with fstat, before it writes the
// file's header, and fails with ErrSizeChanged if the file then yields more
// or fewer bytes. On any error, including cancellation, it leaves the stream
// unterminated: no tar end-of-archive blocks and no final piece and, if w
// still accepts writes, the header of a member whose data never follows, so
// that a receiver (gzip -t, tar -t, or Unpack) sees a truncated archive
// rather than a complete, shorter one. On Linux the holes of sparse files are
// found with SEEK_DATA and SEEK_HOLE and their zeros are compressed without
// being read.
//
// Pack's memory use depends on the options, not on the data: about
// Concurrency times three pieces of BlockSize, in and out, plus a 1 MiB copy
// buffer. Unpack holds at most Concurrency (8) pieces or chunks decoded ahead,
// each at most 2 MiB plus its compressed bytes, one more per core being
// decoded, and a 1 MiB copy buffer: about 30 MiB resident with Pack's 1 MiB
// pieces, 10-15 MiB for a foreign single-member stream.
//
// # Reading
//
// Unpack extracts into an existing empty directory through an os.Root, so no
// name or link in the archive can reach outside it. A name is accepted when,
// after dropping one leading "./", it is one local path element
// (filepath.IsLocal), valid UTF-8 without NUL, not seen before, and accepted
// by the caller's filter; the root entry "./" is ignored and the directory's
// own mode is never changed. Only regular files are written, created
// exclusively (O_CREATE|O_EXCL, and O_NOFOLLOW where it exists) with mode
// 0644, whatever the header says. Symbolic and hard links, devices, FIFOs,
// other directories, absolute names, names with "..", nested names and
// duplicates are refused with an *EntryError wrapping a sentinel error.
//
// Aligned runs of 4 KiB of zeros are not written, so a fixed-size VHD or an
// expanded sparse member stays sparse on disk. Sizes are checked against the
// limits in UnpackOptions when a header is read and again as bytes are
// copied; the decompressed stream may exceed the declared entry sizes by at
// most MetadataAllowance, so a gzip bomb is refused after a bounded amount
// of work. On any error Unpack removes the files it created.
//
// The default limits are set for disk images: up to 64 entries (a long
// chain and its parents), DefaultMaxFileSize (2100 GiB: a fully allocated
// 2040 GiB dynamic VHD with its metadata) for each, DefaultMaxTotalSize
// (16 TiB) in all. Unpack's work is in proportion to the compressed bytes
// it reads and the data it writes, never to a size the archive claims:
// a hole of a sparse member costs nothing, so a 132-byte archive claiming a
// 100 GiB file of holes is extracted in milliseconds, as a sparse file.
package tarball
