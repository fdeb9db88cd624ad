package main

import (
	"encoding/hex"
	"testing"

	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

const (
	testHash  = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testNonce = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
)

// TestKeyhashVectors checks blktap's keyhash, SHA-256 of the nonce and then
// the key, against vectors computed independently (Python's hashlib).
func TestKeyhashVectors(t *testing.T) {
	key := make([]byte, 64)
	for i := range key {
		key[i] = byte(i)
	}
	var zero, nonce [32]byte
	hex.Decode(nonce[:], []byte(testNonce))
	for _, tc := range []struct {
		nonce [32]byte
		key   []byte
		want  string
	}{
		{zero, key, "dc7a48014fc1fac8b52af39bc7ea5cafafabf8bb81fb8f880fdf3b4a4566795c"},
		{nonce, key, "c0f59eafd3d097e284759fa271682c094d6f3e088fac1a77cf0e98a509b0ed58"},
		{nonce, key[:32], "e1e6546f92a9f4667ab951da6c40bcf51b54c759dbd0661ad1bff930af9380f1"},
	} {
		got := keyhashOf(tc.nonce, tc.key)
		if hex.EncodeToString(got[:]) != tc.want {
			t.Errorf("keyhash(%x, %d-byte key) = %x, want %s", tc.nonce, len(tc.key), got, tc.want)
		}
	}
}

func key64() []byte {
	key := make([]byte, 64)
	for i := range key {
		key[i] = byte(i)
	}
	return key
}

func TestKey(t *testing.T) {
	ku := usage(keyUsage)
	disk := dynamic("a.vhd", 10*mib)
	keyFile := writeFile("a,aes-xts-plain,512.key", key64())
	a := []string{"a.vhd"}
	runRefCases(t, []refCase{
		{cliCase: cliCase{name: "sm getKeyHash, none", setup: disk, args: []string{"key", "-p", "-n", "a.vhd"}, want: result{Stdout: "none\n"}}},
		{cliCase: cliCase{name: "sm setKey", setup: disk, args: []string{"key", "-s", "-n", "a.vhd", "-H", testHash},
			then: seq(expect(result{Stdout: lines("0000000000000000000000000000000000000000000000000000000000000000 " + testHash)}, "key", "-p", "-n", "a.vhd"),
				expectSound("a.vhd", nil))}, files: a},
		{cliCase: cliCase{name: "set with a nonce, then print", setup: disk, args: []string{"key", "-s", "-p", "-n", "a.vhd", "-H", testHash, "-N", testNonce},
			want: result{Stdout: lines(testNonce + " " + testHash)}}, files: a},
		{cliCase: cliCase{name: "scan -M shows it", setup: seq(disk, cli("key", "-s", "-n", "a.vhd", "-H", testHash)), args: []string{"scan", "-M", "a.vhd"},
			want: result{Stdout: lines("vhd=a.vhd capacity=10485760 size=3584 hidden=0 marker=0 keyhash=" + testHash + " parent=none")}}},
		{cliCase: cliCase{name: "fixed disk", setup: fixed("f.vhd", 4*mib), args: []string{"key", "-s", "-n", "f.vhd", "-H", testHash},
			want: result{Stderr: "vhd_util_set_key: can't save key hashes for fixed vhds\nsetting key failed: -22\n", Code: 22}}, files: []string{"f.vhd"}},
		{cliCase: cliCase{name: "disk with data", setup: dynamic("a.vhd", 10*mib, fill512()), args: []string{"key", "-s", "-n", "a.vhd", "-H", testHash},
			want: result{Stderr: "vhd_util_set_key: can't save key hashes for non-empty vhds\nsetting key failed: -22\n", Code: 22}}, files: a},
		{cliCase: cliCase{name: "short hash", setup: disk, args: []string{"key", "-s", "-n", "a.vhd", "-H", "0011"},
			want: result{Stderr: "vhd_util_set_hex: invalid size for hex string\nsetting key failed: -22\n", Code: 22}}, files: a},
		{cliCase: cliCase{name: "bad hex", setup: disk, args: []string{"key", "-s", "-n", "a.vhd", "-H", "zz" + testHash[2:]},
			want: result{Stderr: "vhd_util_set_hex: invalid hex digit\nsetting key failed: -22\n", Code: 22}}, files: a},
		{cliCase: cliCase{name: "both key and hash", setup: seq(disk, keyFile), args: []string{"key", "-s", "-n", "a.vhd", "-H", testHash, "-k", "a,aes-xts-plain,512.key"},
			want: result{Stderr: ku, Code: 22}}, files: a},
		{cliCase: cliCase{name: "nothing to do", setup: disk, args: []string{"key", "-n", "a.vhd"}, want: result{Stderr: ku, Code: 22}}},
		{cliCase: cliCase{name: "help", args: []string{"key", "-h"}, want: result{Stderr: ku}}},
		{cliCase: cliCase{name: "missing file", args: []string{"key", "-p", "-n", "a.vhd"}, want: result{Stderr: "failed to open a.vhd: -2\n", Code: 2}}},
		{cliCase: cliCase{name: "check without a keyhash", setup: seq(disk, keyFile), args: []string{"key", "-c", "-n", "a.vhd", "-k", "a,aes-xts-plain,512.key"},
			want: result{Stderr: "vhd_util_check_key: this vhd has no keyhash\nkey check failed: -22\n", Code: 22}}},
		{cliCase: cliCase{name: "calculate", setup: keyFile, args: []string{"key", "-C", "-k", "a,aes-xts-plain,512.key", "-N", testNonce},
			want: result{Stdout: lines("c0f59eafd3d097e284759fa271682c094d6f3e088fac1a77cf0e98a509b0ed58"),
				Stderr: "vhd_util_read_key: using keyfile a,aes-xts-plain,512.key, Size (bytes) 64\n"}},
			differs: "the reference was built without blktap's crypto library: Failed to load crypto support library"},
		{cliCase: cliCase{name: "set from a key file, then check", setup: seq(disk, keyFile),
			args: []string{"key", "-s", "-n", "a.vhd", "-k", "a,aes-xts-plain,512.key"},
			want: result{Stderr: "vhd_util_read_key: using keyfile a,aes-xts-plain,512.key, Size (bytes) 64\n"},
			then: seq(expect(result{Stdout: lines("0000000000000000000000000000000000000000000000000000000000000000 dc7a48014fc1fac8b52af39bc7ea5cafafabf8bb81fb8f880fdf3b4a4566795c")}, "key", "-p", "-n", "a.vhd"),
				expect(result{Stderr: "vhd_util_read_key: using keyfile a,aes-xts-plain,512.key, Size (bytes) 64\n"}, "key", "-c", "-n", "a.vhd", "-k", "a,aes-xts-plain,512.key"))},
			differs: "the reference was built without blktap's crypto library"},
		{cliCase: cliCase{name: "key file of the wrong name", setup: seq(disk, writeFile("b,aes-xts-plain,512.key", key64())),
			args: []string{"key", "-s", "-n", "a.vhd", "-k", "b,aes-xts-plain,512.key"},
			want: result{Stderr: "vhd_util_set_keyhash: Invalid key name b,aes-xts-plain,512.key\nsetting key failed: -1\n", Code: 1}}, files: a},
	})
}

func fill512() vhdtest.Write { return vhdtest.Fill(8, 0, 512) }
