package console

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTerminal reports a refusal to write binary data to a terminal.
var ErrTerminal = errors.New("stdout is a terminal")

// IsTerminal reports whether w is an *os.File open on a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// RefuseTerminal returns an error wrapping ErrTerminal when w is a
// terminal: what (such as "a tar.gz archive") would garble it. Any other
// file, pipe or device, /dev/null included, is accepted. Commands call it
// unless the user forces the write (-f).
func RefuseTerminal(w io.Writer, what string) error {
	if !IsTerminal(w) {
		return nil
	}
	return fmt.Errorf("%w: refusing to write %s to it; redirect stdout to a file or a pipe, or use -f", ErrTerminal, what)
}
