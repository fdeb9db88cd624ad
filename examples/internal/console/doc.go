// Package console holds what vhdkit's example programs show on a terminal
// and share between them: sizes and rates in one unit system (MiB and
// MiB/s), a progress printer, size-valued flags with human-readable
// defaults, and the refusal to write binary data to a terminal.
package console
