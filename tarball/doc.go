// Package tarball writes and reads the gzip-compressed tar archives that
// carry disk images between hosts, using every core for compression and
// accepting from strangers only what an image may hold.
//
// # Format
//
// An archive is what `tar -zc --directory=DIR .` makes: gzip over a GNU tar
// stream holding a "./" directory entry and then one regular file per image,
// "./0.vhd", "./1.vhd", and so on. Pack writes exactly that, with GNU headers
// (base-256 sizes for files of 8 GiB and more) and gzip compressed in
// parallel blocks by github.com/klauspost/pgzip; the result is a single gzip
// member that any gzip reader accepts. Unpack reads names with or without the
// leading "./", in any order, GNU, ustar and PAX headers, GNU sparse members,
// and gzip streams made of several members.
//
// # Writing
//
// Pack records each file's size once, with fstat, before it writes the
// file's header, and fails with ErrSizeChanged if the file then yields more
// or fewer bytes. On any error, including cancellation, it leaves the stream
// unterminated: no tar end-of-archive blocks and no gzip trailer, so that a
// receiver (gzip -t, tar -t, or Unpack) sees a truncated archive rather than
// a complete, shorter one. On Linux the holes of sparse files are found with
// SEEK_DATA and SEEK_HOLE and their zeros are compressed without being read.
//
// Pack's memory use depends on the options, not on the data: about
// Concurrency times two blocks of BlockSize plus a 1 MiB copy buffer (about
// 25-30 MiB resident for the vdi-transfer command with the defaults, whether
// the image is 1 or 8 GiB). Unpack holds Concurrency read-ahead blocks of
// BlockSize and one 1 MiB buffer (about 16 MiB resident).
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
package tarball
