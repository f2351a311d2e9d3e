package shapes

import (
	"fmt"
	"strings"
)

// Severity says whether an issue stopped something from being imported.
type Severity int

const (
	// Warning: the import went on and nothing was lost (a value was kept
	// somewhere other than its usual place, or a default was used).
	Warning Severity = iota
	// Error: something named in the issue was not imported.
	Error
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Issue is one problem found in the input, in words a self-hoster can act
// on: which file, which field, what happened and what was done about it.
type Issue struct {
	Severity Severity
	// File is the path as given on the command line joined with the file's
	// place in the backup.
	File string
	// Field is the JSON field ("voice_stability", "memories[12].metadata"),
	// or "" when the issue is about the whole file.
	Field   string
	Message string
	// stands is how many capped warnings this line stands for (0: itself).
	stands int
}

func (i Issue) String() string {
	var b strings.Builder
	b.WriteString(i.Severity.String())
	b.WriteString(": ")
	if i.File != "" {
		b.WriteString(i.File)
		b.WriteString(": ")
	}
	if i.Field != "" {
		b.WriteString(i.Field)
		b.WriteString(": ")
	}
	b.WriteString(i.Message)
	return b.String()
}

// maxIssuesPerFile caps record-level issues from one file: a file with a
// million broken records should produce a readable report, not a million
// lines. The overflow is still counted and reported as one line.
const maxIssuesPerFile = 20

// issueLog collects issues for one run.
type issueLog struct {
	issues   []Issue
	perFile  map[string]int
	overflow map[string]int
}

func (l *issueLog) add(sev Severity, file, field, format string, args ...any) {
	l.issues = append(l.issues, Issue{Severity: sev, File: file, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (l *issueLog) warn(file, field, format string, args ...any) {
	l.add(Warning, file, field, format, args...)
}

func (l *issueLog) fail(file, field, format string, args ...any) {
	l.add(Error, file, field, format, args...)
}

// recordWarn is warn for issues that can repeat once per record.
func (l *issueLog) recordWarn(file, field, format string, args ...any) {
	if l.perFile == nil {
		l.perFile = map[string]int{}
		l.overflow = map[string]int{}
	}
	if l.perFile[file] >= maxIssuesPerFile {
		l.overflow[file]++
		return
	}
	l.perFile[file]++
	l.warn(file, field, format, args...)
}

// flushOverflow turns the capped count for file into one issue.
func (l *issueLog) flushOverflow(file string) {
	if n := l.overflow[file]; n > 0 {
		l.warn(file, "", "%d more warnings like the ones above in this file were not listed", n)
		l.issues[len(l.issues)-1].stands = n
		delete(l.overflow, file)
	}
}

// count returns how many issues have each severity.
func (l *issueLog) count() (warnings, errors int) {
	for _, i := range l.issues {
		switch {
		case i.Severity == Error:
			errors++
		case i.stands > 0:
			warnings += i.stands
		default:
			warnings++
		}
	}
	return warnings, errors
}
