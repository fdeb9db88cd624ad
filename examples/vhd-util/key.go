package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vhdkit/vhdkit/vhd"
)

func keyUsage(w io.Writer) {
	fmt.Fprint(w, "usage:\n"+
		"-C -k KEYPATH [-N NONCE]: calculate keyhash for KEYPATH\n"+
		"-s -n NAME <-k KEYPATH> | -H HASH> [-N NONCE]: set keyhash for NAME\n"+
		"-c -n NAME <-k KEYPATH>: check keyhash for NAME\n"+
		"-p -n NAME: print keyhash for NAME\n"+
		"-h help\n")
}

// maxKeyBytes is the largest key vhd-util reads (512 bits).
const maxKeyBytes = 64

// keyhashOf is the keyhash of an encrypted VHD's key as blktap's crypto
// library computes it: SHA-256 of the 32-byte nonce followed by the key.
func keyhashOf(nonce [32]byte, key []byte) [32]byte {
	return sha256Sum(append(nonce[:], key...))
}

// keyCmd carries one vhd-util key run's complaints: each failing function
// names itself on stderr, as vhd-util's ERR macro does.
type keyCmd struct{ stderr io.Writer }

func (k keyCmd) errf(fn, format string, args ...any) {
	fmt.Fprintf(k.stderr, "%s: "+format, append([]any{fn}, args...)...)
}

// setHex decodes a hex string of exactly len(dst) bytes.
func (k keyCmd) setHex(dst []byte, s string) int {
	if len(s)/2 != len(dst) {
		k.errf("vhd_util_set_hex", "invalid size for hex string\n")
		return errEINVAL
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			k.errf("vhd_util_set_hex", "invalid hex digit\n")
			return errEINVAL
		}
		if i&1 == 1 {
			dst[i/2] |= c
		} else {
			dst[i/2] = c << 4
		}
	}
	return 0
}

// keyBits is vhd-util's key file name rule: <vhd name without .vhd>,
// aes-xts-plain,<512|256>.key, which also gives the key's size.
func keyBits(vhdName, keypath string) (int, bool) {
	base := filepath.Base(vhdName)
	if i := strings.Index(base, ".vhd"); i >= 0 {
		base = base[:i]
	}
	kb := keypath
	if i := strings.LastIndexByte(kb, '/'); i >= 0 {
		kb = kb[i+1:]
	}
	for _, bits := range []int{512, 256} {
		if strings.HasPrefix(kb, fmt.Sprintf("%s,aes-xts-plain,%d.key", base, bits)) {
			return bits, true
		}
	}
	return 0, false
}

// readKey reads a key file of want bytes (0: up to 64), which must be read
// whole.
func (k keyCmd) readKey(keypath string, want int) ([]byte, int) {
	f, err := os.Open(keypath)
	if err != nil {
		e := errno(err)
		k.errf("vhd_util_read_key", "failed to open %s: %d\n", keypath, e)
		return nil, e
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, errno(err)
	}
	if want == 0 {
		want = maxKeyBytes
	}
	buf := make([]byte, want)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		e := errno(err)
		k.errf("vhd_util_read_key", "failed to read key: %d\n", e)
		return nil, e
	}
	if int64(n) != st.Size() {
		k.errf("vhd_util_read_key", "short read of key\n")
		return nil, errEIO
	}
	k.errf("vhd_util_read_key", "using keyfile %s, Size (bytes) %d\n", keypath, n)
	return buf[:n], 0
}

// calculate is vhd_util_calculate_keyhash: the key read, its size checked
// against the name's, the hash computed in-process.
func (k keyCmd) calculate(kh *vhd.Keyhash, keypath string, keyBytes int) int {
	key, e := k.readKey(keypath, keyBytes)
	if e != 0 {
		k.errf("vhd_util_calculate_keyhash", "failed to read key: -%d\n", e)
		return e
	}
	defer clear(key)
	if keyBytes > 0 && keyBytes != len(key) {
		k.errf("vhd_util_calculate_keyhash", "incorrect key size: %d != %d\n", keyBytes, len(key))
		return errEINVAL
	}
	kh.Hash = keyhashOf(kh.Nonce, key)
	return 0
}

// setKeyhash is vhd_util_set_keyhash: the nonce and the hash from hex, or
// the hash computed from the key file.
func (k keyCmd) setKeyhash(vhdName string, kh *vhd.Keyhash, keypath, hash, nonce string, haveHash, haveNonce bool) int {
	*kh = vhd.Keyhash{}
	if haveNonce {
		if e := k.setHex(kh.Nonce[:], nonce); e != 0 {
			return e
		}
	}
	if haveHash {
		if e := k.setHex(kh.Hash[:], hash); e != 0 {
			return e
		}
	} else {
		bits := 0
		if vhdName != "" {
			var ok bool
			if bits, ok = keyBits(vhdName, keypath); !ok {
				k.errf("vhd_util_set_keyhash", "Invalid key name %s\n", keypath)
				return 1 // vhd-util's -1
			}
		}
		if e := k.calculate(kh, keypath, bits/8); e != 0 {
			k.errf("vhd_util_set_keyhash", "failed to calculate keyhash: -%d\n", e)
			return e
		}
	}
	kh.Cookie = 1
	return 0
}

// runKey is vhd-util key: -p prints the keyhash ("none", or the nonce and
// the hash), -s stores one given as -H HASH or computed from -k KEYPATH
// (only in an empty disk), -c checks a key file against it, -C computes
// one. The hash is blktap's: SHA-256 of the nonce and the key.
func runKey(args []string, stdout, stderr io.Writer) int {
	k := keyCmd{stderr}
	var name, keypath, nonce, hash string
	var haveName, haveKey, haveNonce, haveHash, set, check, calc, print bool
	status := errEINVAL
	opts, operands := getopt("key", args, "n:k:N:H:scCph", stderr)
	for _, o := range opts {
		switch {
		case o.bad:
			keyUsage(stderr)
			return errEINVAL
		case o.c == 'h':
			keyUsage(stderr)
			return 0
		case o.c == 'n':
			name, haveName = o.arg, true
		case o.c == 'k':
			keypath, haveKey = o.arg, true
		case o.c == 'N':
			nonce, haveNonce = o.arg, true
		case o.c == 'H':
			hash, haveHash = o.arg, true
		case o.c == 's':
			set = true
		case o.c == 'c':
			check = true
		case o.c == 'C':
			calc = true
		case o.c == 'p':
			print = true
		}
	}
	if len(operands) > 0 {
		keyUsage(stderr)
		return status
	}
	if calc {
		var kh vhd.Keyhash
		if e := k.setKeyhash("", &kh, keypath, "", nonce, false, haveNonce); e != 0 {
			k.errf("vhd_util_key", "calculating keyhash failed: -%d\n", e)
			return e
		}
		fmt.Fprintf(stdout, "%x\n", kh.Hash[:])
		return 0
	}
	switch {
	case !haveName,
		set && (check || haveKey == haveHash),
		!set && check && (!haveKey || haveNonce || haveHash),
		!set && !check && !print:
		keyUsage(stderr)
		return status
	}
	flag := os.O_RDONLY
	if set {
		flag = os.O_RDWR
	}
	f, err := vhd.OpenBlockDevice(name, flag)
	if err == nil && set && f.Footer.Disabled() {
		f.Close()
		err = vhd.ErrDisabled
	}
	if err != nil {
		e := openErrno(name, err)
		fmt.Fprintf(stderr, "failed to open %s: -%d\n", name, e)
		return e
	}
	defer f.Close()
	status = 0
	switch {
	case set:
		if e := k.setKey(f, name, keypath, hash, nonce, haveHash, haveNonce); e != 0 {
			fmt.Fprintf(stderr, "setting key failed: -%d\n", e)
			status = e
		}
	case check:
		if e := k.checkKey(f, name, keypath); e != 0 {
			fmt.Fprintf(stderr, "key check failed: -%d\n", e)
			status = e
		}
	}
	if print {
		kh, err := readKeyhash(f)
		switch {
		case err != nil:
			status = errno(err)
			fmt.Fprintf(stderr, "failed to read keyhash: -%d\n", status)
		case kh.Cookie != 1:
			status = 0
			fmt.Fprintln(stdout, "none")
		default:
			status = 0
			fmt.Fprintf(stdout, "%x %x\n", kh.Nonce[:], kh.Hash[:])
		}
	}
	return status
}

// readKeyhash reads the keyhash from the batmap header as it is on disk;
// a file without a batmap has none here.
func readKeyhash(f *vhd.File) (vhd.Keyhash, error) {
	g, err := vhd.OpenBlockDevice(f.Name(), os.O_RDONLY)
	if err != nil {
		return vhd.Keyhash{}, err
	}
	defer g.Close()
	bm, err := g.Batmap()
	if errors.Is(err, vhd.ErrNoBatmap) {
		return vhd.Keyhash{}, nil
	}
	if err != nil {
		return vhd.Keyhash{}, err
	}
	return bm.Header.Keyhash, nil
}

// setKey is key -s: only a dynamic disk with no block allocated takes a
// keyhash, which goes into its batmap header (one sector, synced).
func (k keyCmd) setKey(f *vhd.File, name, keypath, hash, nonce string, haveHash, haveNonce bool) int {
	if f.Header == nil {
		k.errf("vhd_util_set_key", "can't save key hashes for fixed vhds\n")
		return errEINVAL
	}
	if f.Header.MaxTableEntries < uint32(compatBlocks(f)) {
		k.errf("vhd_util_set_key", "error reading bat: -%d\n", errEINVAL)
		return errEINVAL
	}
	bat, err := f.BAT()
	if err != nil {
		e := errno(err)
		k.errf("vhd_util_set_key", "error reading bat: -%d\n", e)
		return e
	}
	for _, e := range bat[:compatBlocks(f)] {
		if e != vhd.Unallocated {
			k.errf("vhd_util_set_key", "can't save key hashes for non-empty vhds\n")
			return errEINVAL
		}
	}
	var kh vhd.Keyhash
	if e := k.setKeyhash(name, &kh, keypath, hash, nonce, haveHash, haveNonce); e != 0 {
		return e
	}
	bm, err := f.Batmap()
	if errors.Is(err, vhd.ErrNoBatmap) {
		k.errf("vhd_util_set_key", "failed to set keyhash: -%d\n", errEOPNOTSUPP)
		return errEOPNOTSUPP
	}
	if err != nil {
		e := errno(err)
		k.errf("vhd_util_set_key", "failed to set keyhash: -%d\n", e)
		return e
	}
	bm.Header.Keyhash = kh
	b, _ := bm.Header.MarshalBinary()
	w, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return errno(err)
	}
	defer w.Close()
	if _, err := w.WriteAt(b, bm.HeaderOffset); err != nil {
		return errno(err)
	}
	if err := w.Sync(); err != nil {
		return errno(err)
	}
	return 0
}

// checkKey is key -c: the key file's hash, with the disk's nonce, must be
// the disk's.
func (k keyCmd) checkKey(f *vhd.File, name, keypath string) int {
	have, err := readKeyhash(f)
	if err != nil {
		e := errno(err)
		k.errf("vhd_util_check_key", "failed to read keyhash: -%d\n", e)
		return e
	}
	if have.Cookie == 0 {
		k.errf("vhd_util_check_key", "this vhd has no keyhash\n")
		return errEINVAL
	}
	bits, ok := keyBits(name, keypath)
	if !ok {
		k.errf("vhd_util_check_key", "Invalid key name %s\n", keypath)
		return 1
	}
	kh := vhd.Keyhash{Nonce: have.Nonce}
	if e := k.calculate(&kh, keypath, bits/8); e != 0 {
		k.errf("vhd_util_check_key", "failed to calculate keyhash: -%d\n", e)
		return e
	}
	if kh.Hash != have.Hash {
		k.errf("vhd_util_check_key", "vhd hash doesn't match key hash\n")
		return errEINVAL
	}
	return 0
}
