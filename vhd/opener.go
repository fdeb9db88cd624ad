package vhd

// A ParentOpener resolves and opens the parent of a differencing disk. The
// vhd package decodes parent locators but never opens a path it decoded from
// a file: [Check] (for its parent rules) and [Snapshot] (to skip empty
// parents) ask a ParentOpener, which the chain package provides in two
// flavours, confined to a root directory or compatible with vhd-util.
type ParentOpener interface {
	// Resolve returns the path of the file that locator loc of child points
	// to. An error should wrap fs.ErrNotExist when nothing is there.
	Resolve(child *File, loc Locator) (string, error)
	// Open opens a path returned by Resolve for reading.
	Open(path string) (*File, error)
}
