package chain

// PhaseWriteRaw is [Chain.WriteRaw] writing the leaf's virtual disk: Done
// counts bytes of the virtual disk written, Total is its virtual size, and
// Name is the leaf's path. ([Phase] and [Progress] are shared by every long
// operation of the package.)
const PhaseWriteRaw Phase = "write raw"
