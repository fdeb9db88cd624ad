package vhd_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/vhd"
)

// ExampleCheckFile checks a dynamic disk whose hidden flag was set to 2,
// which vhd-util set accepts and vhd-util check rejects. Every problem is
// listed, each with vhd-util's message, the offset of the field and a
// sentinel error.
func ExampleCheckFile() {
	dir, err := os.MkdirTemp("", "vhd-check")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "disk.vhd")
	f, err := vhd.Create(name, &vhd.CreateOptions{Size: 100 << 20})
	if err != nil {
		log.Fatal(err)
	}
	if err := f.SetHidden(2); err != nil {
		log.Fatal(err)
	}
	f.Close()

	rep, err := vhd.CheckFile(context.Background(), name, nil)
	for _, p := range rep.Problems {
		fmt.Printf("%s (%s, offset %d)\n", p.Msg, p.Part, p.Offset)
	}
	fmt.Println(errors.Is(err, vhd.ErrFooterInvalid))
	// Output:
	// primary footer invalid: invalid 'hidden' state (primary footer, offset 3157)
	// backup footer invalid: invalid 'hidden' state (backup footer, offset 85)
	// true
}
