//go:build linux

package staging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/staging"
	"github.com/vhdkit/vhdkit/vhd"
	"github.com/vhdkit/vhdkit/vhd/vhdtest"
)

func ExampleSequence() {
	seq, err := staging.Sequence([]string{"base.vhd", "README", "swap.vhd", "snap.vhd", "image.vhd"}, 0)
	fmt.Println(seq, err)
	_, err = staging.Sequence([]string{"0.vhd", "2.vhd"}, 0)
	fmt.Println(err)
	// Output:
	// [snap.vhd image.vhd base.vhd] <nil>
	// staging: name 1.vhd: VHD sequence has a gap: missing, highest is 2.vhd
}

func ExampleFromStack() {
	stack := []vhd.UUID{
		vhdtest.UUID("00000000-0000-4000-8000-000000000001"),
		vhdtest.UUID("00000000-0000-4000-8000-000000000002"),
	}
	// nova's XenServer plugin popped from the end: 0.vhd got the last UUID.
	fmt.Println(staging.FromStack(stack))
	// Output: [00000000-0000-4000-8000-000000000002 00000000-0000-4000-8000-000000000001]
}

// ExampleExport streams a VDI out of one SR and imports it into another.
func ExampleExport() {
	tmp, err := os.MkdirTemp("", "staging-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	src, dst := filepath.Join(tmp, "sr1"), filepath.Join(tmp, "sr2")
	os.Mkdir(src, 0o755)
	os.Mkdir(dst, 0o755)

	vdi := vhdtest.UUID("6f1e0c62-3c1f-4d4e-9d7a-2b1f5e8c9a01")
	f, err := vhd.Create(filepath.Join(src, vdi.String()+".vhd"), &vhd.CreateOptions{Size: 16 << 20})
	if err != nil {
		log.Fatal(err)
	}
	f.WriteAt([]byte("hello, SR"), 0)
	f.Close()

	var archive bytes.Buffer
	if _, err := staging.Export(context.Background(), &archive, src, []vhd.UUID{vdi}, &staging.ExportOptions{Chain: true}); err != nil {
		log.Fatal(err)
	}
	res, err := staging.Import(context.Background(), &archive, dst, &staging.ImportOptions{
		UUIDs: []vhd.UUID{vhdtest.UUID("0b6a1f44-8d4c-4b7e-9c1a-3f2e5d6c7b8a")},
	})
	if err != nil {
		log.Fatal(err)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	names, _ := filepath.Glob(filepath.Join(dst, "*"))
	for _, n := range names {
		fmt.Println(filepath.Base(n))
	}
	// Output:
	// {"root":{"uuid":"0b6a1f44-8d4c-4b7e-9c1a-3f2e5d6c7b8a"}}
	// 0b6a1f44-8d4c-4b7e-9c1a-3f2e5d6c7b8a.vhd
}

// ExampleRecover cleans up after operations that died.
func ExampleRecover() {
	sr, err := os.MkdirTemp("", "staging-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(sr)
	rep, err := staging.Recover(context.Background(), sr, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(rep.Areas), "staging areas")
	// Output: 0 staging areas
}
