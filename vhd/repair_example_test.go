package vhd_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vhdkit/vhdkit/vhd"
)

// ExampleFile_Repair restores a footer cut off the end of a VHD, after a
// dry run that says what would change.
func ExampleFile_Repair() {
	dir, err := os.MkdirTemp("", "repair")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "a.vhd")
	f, err := vhd.Create(name, &vhd.CreateOptions{Size: 8 << 20})
	if err != nil {
		log.Fatal(err)
	}
	f.WriteAt([]byte("data"), 0)
	f.Close()
	st, _ := os.Stat(name)
	os.Truncate(name, st.Size()-512) // a torn write took the primary footer

	f, err = vhd.OpenFile(name, os.O_RDWR)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	plan, err := f.Repair(context.Background(), &vhd.RepairOptions{DryRun: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("opened with the %v footer; would write the primary at %d: %v\n", plan.Source, plan.FooterOffset, plan.Primary)
	if _, err := f.Repair(context.Background(), nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("now opened with the", f.FooterSource(), "footer")
	// Output:
	// opened with the backup footer; would write the primary at 2101248: true
	// now opened with the primary footer
}

// ExampleFile_Grow grows a disk created with room in its block table.
func ExampleFile_Grow() {
	dir, err := os.MkdirTemp("", "grow")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	f, err := vhd.Create(filepath.Join(dir, "a.vhd"), &vhd.CreateOptions{Size: 10 << 20, MetadataSize: 1 << 30})
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if err := f.Grow(context.Background(), 100<<20, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.VirtualSize()>>20, "MiB")
	// Output: 100 MiB
}
