//go:build !unix

package vhd

import (
	"io"
	"io/fs"
	"os"
)

type fdReader struct{ *os.File }

func openReadOnly(name string) (*fdReader, int64, fs.FileMode, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, 0, err
	}
	size := st.Size()
	if !st.Mode().IsRegular() && !st.IsDir() {
		if end, err := f.Seek(0, io.SeekEnd); err == nil {
			size = end
		}
	}
	return &fdReader{f}, size, st.Mode(), nil
}
