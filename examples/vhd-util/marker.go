package main

import (
	"errors"

	"github.com/vhdkit/vhdkit/vhd"
)

// markerXattr is where blktap keeps the marker of a VHD without a batmap.
const markerXattr = "user.com.citrix.xenclient.backend.marker"

// readMarker is query -m: the batmap header's marker byte, or for a file
// without a batmap the marker extended attribute (0 when absent or
// unsupported).
func readMarker(f *vhd.File) (uint8, error) {
	bm, err := f.Batmap()
	if errors.Is(err, vhd.ErrNoBatmap) {
		return getMarkerXattr(f.Name())
	}
	if err != nil {
		return 0, err
	}
	return bm.Header.Marker, nil
}

// writeMarker is set -f marker: into the batmap header, or the extended
// attribute of a file without a batmap.
func writeMarker(f *vhd.File, v uint8) error {
	_, err := f.Batmap()
	if errors.Is(err, vhd.ErrNoBatmap) {
		return setMarkerXattr(f.Name(), v)
	}
	if err != nil {
		return err
	}
	return f.SetMarker(v)
}
