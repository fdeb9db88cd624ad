package console

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is one progress report, in the shape the library's packages all
// report progress: a phase, the file being worked on, Done of Total (Total
// 0 when unknown), and the file and compressed bytes so far.
type Status struct {
	Phase               string
	Name                string
	Done, Total         int64
	Logical, Compressed int64
}

// Printer prints progress on a stream, normally stderr: on a terminal it
// rewrites one line four times a second, elsewhere it prints a line every
// two seconds and at every change of phase. It prints nothing unless it was
// asked to or the stream is a terminal. The zero Printer prints nothing.
type Printer struct {
	w        io.Writer
	what     string
	on, tty  bool
	start    time.Time
	last     time.Time
	lastLen  int
	lastSeen Status
	printed  bool
}

// NewPrinter returns a printer for the command what ("download") writing
// to w; asked says the user asked for progress (--progress).
func NewPrinter(w io.Writer, what string, asked bool) *Printer {
	tty := IsTerminal(w)
	return &Printer{w: w, what: what, on: asked || tty, tty: tty, start: time.Now()}
}

// Update takes a report; it prints it when the last line is old enough or
// the phase changed.
func (p *Printer) Update(s Status) {
	if p == nil || !p.on {
		return
	}
	phaseChanged := s.Phase != p.lastSeen.Phase
	p.lastSeen = s
	every := 250 * time.Millisecond
	if !p.tty {
		every = 2 * time.Second
	}
	now := time.Now()
	if !phaseChanged && now.Sub(p.last) < every {
		return
	}
	p.last = now
	p.print(p.line(s))
}

// Finish prints the final line: totals and the overall rate on success,
// nothing more on failure (the caller reports the error).
func (p *Printer) Finish(err error) {
	if p == nil || !p.on {
		return
	}
	if err == nil {
		s := p.lastSeen
		d := time.Since(p.start)
		line := fmt.Sprintf("%s done in %v: %s", p.what, d.Round(time.Millisecond), p.counts(s))
		if s.Done > 0 {
			line += ", " + Rate(s.Done, d)
		}
		p.print(line)
	}
	if p.tty && p.printed {
		fmt.Fprintln(p.w)
	}
}

func (p *Printer) line(s Status) string {
	var b strings.Builder
	b.WriteString(p.what)
	if s.Phase != "" && s.Phase != p.what {
		b.WriteString(" " + s.Phase)
	}
	if s.Name != "" {
		b.WriteString(" " + s.Name)
	}
	b.WriteString(": ")
	elapsed := time.Since(p.start)
	if s.Total > 0 {
		fmt.Fprintf(&b, "%s of %s", strings.TrimSuffix(Bytes(s.Done), " MiB"), Bytes(s.Total))
		if s.Done < s.Total {
			fmt.Fprintf(&b, " (%d%%)", s.Done*100/s.Total)
		}
	} else {
		b.WriteString(Bytes(s.Done))
	}
	fmt.Fprintf(&b, ", %s", Rate(s.Done, elapsed))
	if s.Total > 0 && s.Done > 0 && s.Done < s.Total && elapsed >= time.Second {
		eta := time.Duration(float64(s.Total-s.Done) / float64(s.Done) * float64(elapsed))
		fmt.Fprintf(&b, ", ETA %v", eta.Round(time.Second))
	}
	b.WriteString("; " + p.counts(s))
	return b.String()
}

func (p *Printer) counts(s Status) string {
	return fmt.Sprintf("files %s, compressed %s", Bytes(s.Logical), Bytes(s.Compressed))
}

func (p *Printer) print(line string) {
	p.printed = true
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := ""
	if n := p.lastLen - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.lastLen = len(line)
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
}
