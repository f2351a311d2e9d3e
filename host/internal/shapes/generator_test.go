package shapes

// The backup generator lives in package shapestest (so tests elsewhere can
// import a generated backup too); these names keep the importer's tests as
// they were.

import (
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/shapes/shapestest"
)

type (
	genOptions     = shapestest.Options
	genPersonality = shapestest.Personality
	genBackup      = shapestest.Backup
)

func generateBackup(t testing.TB, opts genOptions) *genBackup { return shapestest.Generate(t, opts) }

func writeJSON(t testing.TB, path string, v any) { t.Helper(); shapestest.WriteJSON(t, path, v) }

func writeFile(t testing.TB, path string, b []byte) { t.Helper(); shapestest.WriteFile(t, path, b) }

// Broken case names.
const (
	brokenTruncated        = shapestest.BrokenTruncated
	brokenGarbage          = shapestest.BrokenGarbage
	brokenMissing          = shapestest.BrokenMissing
	brokenArray            = shapestest.BrokenArray
	brokenVoice            = shapestest.BrokenVoice
	brokenBirthday         = shapestest.BrokenBirthday
	brokenAliasA           = shapestest.BrokenAliasA
	brokenAliasB           = shapestest.BrokenAliasB
	brokenOrphan           = shapestest.BrokenOrphan
	brokenTruncatedRecords = shapestest.BrokenTruncatedRecords
	brokenRecords          = shapestest.BrokenRecords
	brokenDeleted          = shapestest.BrokenDeleted
)

// TestGeneratorKindsMatchTheImporter: the generator writes each record file
// under the name the importer reads, in the importer's kind order.
func TestGeneratorKindsMatchTheImporter(t *testing.T) {
	for k := RecordKind(0); k < numRecordKinds; k++ {
		if got, want := shapestest.Suffix[shapestest.Kind(k)], recordSpecs[k].suffix; got != want {
			t.Errorf("%s: the generator writes %q, the importer reads %q", k, got, want)
		}
	}
}
