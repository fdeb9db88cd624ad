package vhd_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/vhdkit/vhdkit/vhd"
)

// A raw image becomes a dynamic VHD stream whose length is known first;
// the stream reader then turns it back into the raw image.
func ExamplePlanRawStream() {
	raw := make([]byte, 6<<20) // 6 MiB, data in the second 2 MiB block only
	copy(raw[3<<20:], "hello")
	plan, err := vhd.PlanRawStream(context.Background(), bytes.NewReader(raw), int64(len(raw)), nil)
	if err != nil {
		log.Fatal(err)
	}
	var stream bytes.Buffer
	if _, err := plan.WriteStream(context.Background(), &stream); err != nil {
		log.Fatal(err)
	}
	fmt.Println("planned", plan.Size(), "wrote", stream.Len())

	s, err := vhd.NewStreamReader(context.Background(), &stream, nil)
	if err != nil {
		log.Fatal(err)
	}
	var back bytes.Buffer
	if _, err := s.WriteRaw(context.Background(), &back); err != nil {
		log.Fatal(err)
	}
	fmt.Println("same image:", bytes.Equal(back.Bytes(), raw))
	// Output:
	// planned 2101760 wrote 2101760
	// same image: true
}

// The extent map of a dynamic disk: which runs the file holds.
func ExampleFile_Extents() {
	raw := make([]byte, 6<<20)
	copy(raw[3<<20:], "hello")
	plan, err := vhd.PlanRawStream(context.Background(), bytes.NewReader(raw), int64(len(raw)), nil)
	if err != nil {
		log.Fatal(err)
	}
	var stream bytes.Buffer
	if _, err := plan.WriteStream(context.Background(), &stream); err != nil {
		log.Fatal(err)
	}
	f, err := vhd.New(bytes.NewReader(stream.Bytes()), int64(stream.Len()))
	if err != nil {
		log.Fatal(err)
	}
	for e, err := range f.Extents(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Offset, e.Length, e.Data)
	}
	// Output:
	// 0 2097152 false
	// 2097152 2097152 true
	// 4194304 2097152 false
}
