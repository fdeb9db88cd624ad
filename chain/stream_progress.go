package chain

// Phase names what a Progress report is about.
type Phase string

// Progress reports how far a long call has got: Done of Total units (see
// each Phase), Name the leaf's path. Done never decreases during one call
// and Total never changes once set.
type Progress struct {
	// Phase is the step being reported.
	Phase Phase
	// Name is the file being worked on.
	Name string
	// Done and Total count the phase's units; Total is 0 when unknown.
	Done, Total int64
}
