package run

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// maxLine is the longest partial line a LineWriter buffers before it emits it anyway, so a child
// that never prints a newline cannot make the supervisor's memory grow.
const maxLine = 64 << 10

// palette holds the ANSI colours given to process names in turn when the output is a terminal.
var palette = []string{"36", "32", "33", "35", "34", "96", "92", "93", "95", "94"}

// Output serialises the lines of every supervised process onto one writer, each line starting
// with the process name in brackets ("[pos]       ..."), coloured when Color is set. It is safe
// for concurrent use.
type Output struct {
	mu     sync.Mutex
	w      io.Writer
	color  bool
	width  int
	colors map[string]string
}

// NewOutput returns an Output writing to w. Names are padded to width characters (the longest
// name the caller expects); color turns on ANSI colours.
func NewOutput(w io.Writer, color bool, width int) *Output {
	return &Output{w: w, color: color, width: width, colors: map[string]string{}}
}

// IsTerminal reports whether f is a character device (a terminal) and NO_COLOR is not set, which
// is when `make run` colours the process names.
func IsTerminal(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Line writes one line of text under name's prefix. A trailing newline in text is dropped; text
// containing newlines is written as several prefixed lines.
func (o *Output) Line(name, text string) {
	text = strings.TrimSuffix(text, "\n")
	o.mu.Lock()
	defer o.mu.Unlock()
	prefix := o.prefixLocked(name)
	var b bytes.Buffer
	for _, l := range strings.Split(text, "\n") {
		b.WriteString(prefix)
		b.WriteString(strings.TrimSuffix(l, "\r"))
		b.WriteByte('\n')
	}
	// A failed write to our own stdout has nowhere better to be reported.
	_, _ = o.w.Write(b.Bytes())
}

// Printf writes a formatted line under name's prefix.
func (o *Output) Printf(name, format string, args ...any) {
	o.Line(name, fmt.Sprintf(format, args...))
}

func (o *Output) prefixLocked(name string) string {
	label := "[" + name + "]"
	pad := ""
	if n := o.width + 2 - len(label); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	if !o.color {
		return label + pad + " "
	}
	c, ok := o.colors[name]
	if !ok {
		c = palette[len(o.colors)%len(palette)]
		o.colors[name] = c
	}
	return "\x1b[" + c + "m" + label + "\x1b[0m" + pad + " "
}

// Writer returns an io.Writer that splits what is written into lines and writes each under
// name's prefix. Call Flush on it once the writer is done to emit a final line without newline.
func (o *Output) Writer(name string) *LineWriter {
	return &LineWriter{out: o, name: name}
}

// LineWriter is the io.Writer returned by Output.Writer; it buffers a partial line until its
// newline arrives (or maxLine bytes have accumulated).
type LineWriter struct {
	mu   sync.Mutex
	out  *Output
	name string
	buf  []byte
}

// Write implements io.Writer; it never fails.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.out.Line(w.name, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) >= maxLine {
		w.out.Line(w.name, string(w.buf))
		w.buf = nil
	}
	if len(w.buf) == 0 {
		w.buf = nil // let a large backing array go
	}
	return len(p), nil
}

// Flush writes a buffered partial line, if any.
func (w *LineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.out.Line(w.name, string(w.buf))
		w.buf = nil
	}
}
