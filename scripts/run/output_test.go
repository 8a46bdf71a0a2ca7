package run

import (
	"bytes"
	"strings"
	"testing"
)

func TestLineWriterPrefixesEveryLine(t *testing.T) {
	tests := []struct {
		name   string
		color  bool
		writes []string
		want   string
	}{
		{"one line", false, []string{"hello\n"}, "[pos]    hello\n"},
		{"split across writes", false, []string{"hel", "lo\nwor", "ld\n"}, "[pos]    hello\n[pos]    world\n"},
		{"partial line flushed", false, []string{"no newline"}, "[pos]    no newline\n"},
		{"crlf trimmed", false, []string{"dos\r\n"}, "[pos]    dos\n"},
		{"empty line kept", false, []string{"\n"}, "[pos]    \n"},
		{"colour", true, []string{"hi\n"}, "\x1b[36m[pos]\x1b[0m    hi\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			out := NewOutput(&b, tt.color, 6)
			w := out.Writer("pos")
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.Flush()
			if b.String() != tt.want {
				t.Errorf("got %q, want %q", b.String(), tt.want)
			}
		})
	}
}

func TestLineWriterBoundsAnEndlessLine(t *testing.T) {
	var b bytes.Buffer
	w := NewOutput(&b, false, 1).Writer("x")
	chunk := strings.Repeat("a", 1000)
	for i := 0; i < 200; i++ {
		w.Write([]byte(chunk))
	}
	if len(w.buf) >= maxLine {
		t.Errorf("buffered %d bytes, want < %d", len(w.buf), maxLine)
	}
	w.Flush()
	if got := strings.Count(b.String(), "a"); got != 200*1000 {
		t.Errorf("wrote %d bytes of the line, want %d", got, 200*1000)
	}
}

func TestOutputGivesEachNameItsOwnColour(t *testing.T) {
	var b bytes.Buffer
	out := NewOutput(&b, true, 3)
	out.Line("a", "1")
	out.Line("b", "2")
	out.Line("a", "3")
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("lines = %q", lines)
	}
	colour := func(l string) string { return l[:strings.Index(l, "m")] }
	if colour(lines[0]) == colour(lines[1]) || colour(lines[0]) != colour(lines[2]) {
		t.Errorf("colours not per name: %q", lines)
	}
}

// FuzzLineWriter feeds arbitrary child output, in arbitrary chunks, through a LineWriter: every
// output line carries the prefix and the lines' contents are exactly the input's lines.
func FuzzLineWriter(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), uint8(3))
	f.Add([]byte("partial"), uint8(1))
	f.Add([]byte("crlf\r\nline\r\n\r"), uint8(2))
	f.Add([]byte("\n\n\x1b[31mred\x1b[0m\n"), uint8(0))
	f.Add([]byte("caf\xc3\xa9\xff\xfe\n"), uint8(5))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		if len(in) >= maxLine {
			return // long lines are split on purpose; tested separately
		}
		var b bytes.Buffer
		w := NewOutput(&b, false, 3).Writer("svc")
		size := int(chunk) + 1
		for rest := in; len(rest) > 0; {
			n := min(size, len(rest))
			w.Write(rest[:n])
			rest = rest[n:]
		}
		w.Flush()

		var want []string
		parts := strings.Split(string(in), "\n")
		for i, p := range parts {
			if i == len(parts)-1 && p == "" {
				break // nothing after the last newline
			}
			want = append(want, strings.TrimSuffix(p, "\r"))
		}
		out := b.String()
		if len(want) == 0 {
			if out != "" {
				t.Fatalf("no input lines but output %q", out)
			}
			return
		}
		if !strings.HasSuffix(out, "\n") {
			t.Fatalf("output does not end with a newline: %q", out)
		}
		got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(got) != len(want) {
			t.Fatalf("%d output lines, want %d: %q", len(got), len(want), out)
		}
		for i, l := range got {
			content, ok := strings.CutPrefix(l, "[svc] ")
			if !ok {
				t.Fatalf("line %d lacks the prefix: %q", i, l)
			}
			if content != want[i] {
				t.Fatalf("line %d = %q, want %q", i, content, want[i])
			}
		}
	})
}
