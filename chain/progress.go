package chain

// Phase names what a [Progress] report is about.
type Phase string

// The phases of this package's long operations.
const (
	// PhaseWriteRaw is [Chain.WriteRaw] writing the leaf's virtual disk.
	PhaseWriteRaw Phase = "write raw"
)

// Progress reports how far a long operation on a chain has got. Done never
// decreases during one call, and Total is known from the first report on
// and never changes.
type Progress struct {
	// Phase says which operation reports.
	Phase Phase
	// Name is the path of the link the operation works on: for
	// PhaseWriteRaw, the leaf.
	Name string
	// Done and Total count bytes: for PhaseWriteRaw, bytes of the virtual
	// disk written so far and its virtual size.
	Done, Total int64
}
