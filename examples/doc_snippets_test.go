// Package examples holds the test that keeps the code in the docs identical
// to the examples that `make test` builds and runs, so a walk-through can
// never drift from working code.
package examples

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A doc marks a code block as a copy of real source with the line
//
//	<!-- snippet: PATH#REGION -->   (or PATH alone for the whole file)
//
// right before the block's opening fence. PATH is relative to the module
// root; REGION is the text between the lines "// begin:doc REGION" and
// "// end:doc REGION" in that file. A block that is deliberately not built
// is marked "<!-- sketch -->" instead, and says so in its text.
const (
	snippetMark = "<!-- snippet: "
	sketchMark  = "<!-- sketch -->"
)

// docsWithWalkthroughs are checked; in them, every code block between
// fromHeading and the next "## " heading must be a snippet or a sketch.
var docsWithWalkthroughs = []struct{ path, fromHeading string }{
	{"docs/plugin-abi.md", "## 13. Worked examples"},
}

type block struct {
	line   int    // 1-based line of the opening fence
	marker string // the comment line before it, "" if none
	code   string
}

func TestDocSnippetsMatchExamples(t *testing.T) {
	for _, d := range docsWithWalkthroughs {
		for _, p := range checkDoc("..", d.path, d.fromHeading) {
			t.Error(p)
		}
	}
}

// The checker itself: a block that drifted from its region, a block with
// no marker in the walk-through section, and a missing region are each
// reported; a sketch and a block outside the section are not.
func TestDocSnippetCheckerCatchesDrift(t *testing.T) {
	root := t.TempDir()
	src := "package x\n\n// begin:doc r\nfunc F() int { return 1 }\n// end:doc r\n"
	doc := "# Doc\n\n```go\noutside the section\n```\n\n## 13. Worked examples\n\n" +
		"<!-- snippet: x.go#r -->\n```go\nfunc F() int { return 2 }\n```\n\n" +
		"<!-- snippet: x.go#r -->\n```go\nfunc F() int { return 1 }\n```\n\n" +
		"<!-- sketch -->\n```rust\nfn f() {}\n```\n\n" +
		"```ts\nunmarked\n```\n\n" +
		"<!-- snippet: x.go#gone -->\n```go\n```\n"
	for name, text := range map[string]string{"x.go": src, "doc.md": doc} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	problems := checkDoc(root, "doc.md", "## 13. Worked examples")
	want := []string{"doc.md:10: the block differs from x.go#r", "doc.md:24: a walk-through block is neither", `doc.md:29: x.go: no complete region "gone"`}
	if len(problems) != len(want) {
		t.Fatalf("problems = %q, want %d", problems, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i], w) {
			t.Errorf("problem %d = %q, want it to start with %q", i, problems[i], w)
		}
	}
}

// checkDoc returns every way the doc at path (relative to root) differs
// from the source it quotes.
func checkDoc(root, path, heading string) []string {
	blocks, inSection, err := readBlocks(filepath.Join(root, path), heading)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	snippets := 0
	for i, b := range blocks {
		switch {
		case strings.HasPrefix(b.marker, snippetMark):
			snippets++
			ref := strings.TrimSuffix(strings.TrimPrefix(b.marker, snippetMark), " -->")
			want, err := region(root, ref)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s:%d: %v", path, b.line, err))
				continue
			}
			if b.code != want {
				problems = append(problems, fmt.Sprintf("%s:%d: the block differs from %s; copy the region into the doc again.\n%s",
					path, b.line, ref, firstDifference(b.code, want)))
			}
		case b.marker == sketchMark:
		case inSection[i]:
			problems = append(problems, fmt.Sprintf("%s:%d: a walk-through block is neither a snippet of built source nor marked as a sketch", path, b.line))
		}
	}
	if snippets == 0 {
		problems = append(problems, path+" has no snippets: the markers were lost")
	}
	return problems
}

// readBlocks returns every fenced block of a Markdown file, and whether
// each lies in the section starting at heading.
func readBlocks(path, heading string) ([]block, []bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var (
		blocks    []block
		inSection []bool
		cur       *block
		body      []string
		prev      string
		section   bool
		n         int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur != nil {
			if trimmed == "```" {
				cur.code = strings.Join(body, "\n")
				blocks = append(blocks, *cur)
				cur = nil
			} else {
				body = append(body, line)
			}
			continue
		}
		if strings.HasPrefix(line, "## ") {
			section = line == heading || strings.HasPrefix(line, heading+" ")
		}
		if strings.HasPrefix(trimmed, "```") {
			cur, body = &block{line: n}, nil
			if strings.HasPrefix(prev, snippetMark) || prev == sketchMark {
				cur.marker = prev
			}
			inSection = append(inSection, section)
		}
		if trimmed != "" {
			prev = trimmed
		}
	}
	if cur != nil {
		return nil, nil, fmt.Errorf("%s:%d: a code block is never closed", path, cur.line)
	}
	return blocks, inSection, sc.Err()
}

// region returns the text a snippet reference names, without leading and
// trailing blank lines.
func region(root, ref string) (string, error) {
	path, name, hasRegion := strings.Cut(ref, "#")
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(b), "\n")
	if !hasRegion {
		return trimBlank(lines), nil
	}
	start := -1
	for i, l := range lines {
		switch strings.TrimSpace(l) {
		case "// begin:doc " + name:
			if start >= 0 {
				return "", fmt.Errorf("%s: region %q begins twice", path, name)
			}
			start = i + 1
		case "// end:doc " + name:
			if start < 0 {
				return "", fmt.Errorf("%s: region %q ends before it begins", path, name)
			}
			return trimBlank(lines[start:i]), nil
		}
	}
	return "", fmt.Errorf("%s: no complete region %q (lines \"// begin:doc %s\" and \"// end:doc %s\")", path, name, name, name)
}

func trimBlank(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("first difference at line %d of the block:\n  doc:    %q\n  source: %q", i+1, gl, wl)
		}
	}
	return ""
}
