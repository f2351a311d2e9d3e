package shapes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxProfileBytes bounds how much of a profile (or a v2 store, or a backup
// metadata file) is read into memory. Real profiles are about 30 KB; a
// file this large is not a profile, and reading it whole would be the
// unbounded memory use the streaming record path exists to avoid.
const maxProfileBytes = 64 << 20

// backupMetadataName is the per-directory file shapes.inc backups carry.
const backupMetadataName = ".backup-metadata.json"

// readBackup reads the shapes.inc backup at path into characters. path is
// one backup directory (<slug>/<slug>.json next to its record files), a
// folder holding many such directories, or one profile file. Problems
// with single files are issues; only an unusable path is an error.
func readBackup(path string, log *issueLog) ([]*Character, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	if !info.IsDir() {
		// The profile named on the command line is the backup: a link
		// there is the operator's choice, and its record files are the
		// ones beside the file it points to.
		if path, err = filepath.EvalSymlinks(path); err != nil {
			return nil, fmt.Errorf("read backup: %w", err)
		}
		base := strings.TrimSuffix(filepath.Base(path), ".json")
		if !strings.HasSuffix(path, ".json") {
			return nil, fmt.Errorf("read backup: %s is not a directory or a .json profile", path)
		}
		if _, _, isRecord := recordKindBySuffix(filepath.Base(path)); isRecord {
			return nil, fmt.Errorf("read backup: %s is a record file, not a profile: give the directory that holds the profile instead", path)
		}
		return readBackupDir(filepath.Dir(path), map[string]bool{base: true}, log, false)
	}

	chars, err := readBackupDir(path, nil, log, true)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	for _, e := range entries {
		// Symbolic links and other entries that are not folders were
		// reported by readBackupDir above.
		if !e.IsDir() {
			continue
		}
		if strings.HasPrefix(e.Name(), ".") {
			log.warn(filepath.Join(path, e.Name()), "", "a hidden folder (its name starts with \".\"); skipped, nothing in it is imported (rename it to import it)")
			continue
		}
		sub, err := readBackupDir(filepath.Join(path, e.Name()), nil, log, false)
		if err != nil {
			return nil, err
		}
		chars = append(chars, sub...)
	}
	return chars, nil
}

// readBackupDir reads the profiles in one directory (only those in only,
// when set) and attaches their record files. Record files with no profile
// beside them are reported and not imported. Folders inside are left to
// the caller when top is set (the folder of backups), and reported as
// skipped otherwise (a backup is read one level deep).
//
// Symbolic links are never followed, wherever they point: a backup is the
// files under the path given, and a link could make the import read (and
// store in the database) any file the operator's account can read. Each is
// reported with a warning.
func readBackupDir(dir string, only map[string]bool, log *issueLog, top bool) ([]*Character, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read backup: %w", err)
	}
	var profiles []string
	records := map[string][]RecordFile{}
	recordNames := map[string][]string{}
	metadata := map[string]json.RawMessage{}
	for _, e := range entries {
		name := e.Name()
		full := filepath.Join(dir, name)
		if only != nil {
			// One profile was named: only its own files concern us.
			base := strings.TrimSuffix(name, ".json")
			if _, b, ok := recordKindBySuffix(name); ok {
				base = b
			}
			if !only[base] && !strings.HasSuffix(name, backupMetadataName) {
				continue
			}
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			log.warn(full, "", "a symbolic link; not followed (links are never followed, so nothing outside the backup is read): copy the file or folder it points to into the backup to import it")
			continue
		case e.IsDir():
			if !top && only == nil {
				log.warn(full, "", "a folder inside a backup folder; skipped (backups are read one level deep: give this folder as the path to import it)")
			}
			continue
		case !e.Type().IsRegular():
			log.warn(full, "", "not a regular file; skipped")
			continue
		case !strings.HasSuffix(name, ".json"):
			continue // documented: other files are ignored
		}
		switch {
		case name == backupMetadataName:
			metadata[""] = readMetadata(full, log)
		case strings.HasSuffix(name, backupMetadataName):
			metadata[strings.TrimSuffix(name, backupMetadataName)] = readMetadata(full, log)
		case strings.HasPrefix(name, "."):
			log.warn(full, "", "a hidden file (its name starts with \".\"); skipped")
		default:
			if kind, base, ok := recordKindBySuffix(name); ok {
				records[base] = append(records[base], RecordFile{Kind: kind, Path: full})
				recordNames[base] = append(recordNames[base], full)
				continue
			}
			profiles = append(profiles, strings.TrimSuffix(name, ".json"))
		}
	}
	sort.Strings(profiles)

	var chars []*Character
	seen := map[string]bool{}
	for _, base := range profiles {
		seen[base] = true
		if only != nil && !only[base] {
			continue
		}
		file := filepath.Join(dir, base+".json")
		obj, err := readObjectFile(file, log)
		if err != nil {
			log.fail(file, "", "%v; personality not imported", err)
			continue
		}
		c := mapProfile(file, base, obj, log)
		if c == nil {
			continue
		}
		c.Records = records[base]
		sort.Slice(c.Records, func(i, j int) bool { return c.Records[i].Kind < c.Records[j].Kind })
		if md := metadata[base]; md != nil {
			c.CustomFields["shapesBackupMetadata"] = md
		} else if md := metadata[""]; md != nil {
			c.CustomFields["shapesBackupMetadata"] = md
		}
		chars = append(chars, c)
	}
	for _, base := range sortedKeys(recordNames) {
		if seen[base] || (only != nil && !only[base]) {
			continue
		}
		for _, f := range recordNames[base] {
			kind, _, _ := recordKindBySuffix(filepath.Base(f))
			log.fail(f, "", "%s for %q, but the backup has no profile %s.json next to it; not imported (put the profile beside it, or remove the file)",
				recordSpecs[kind].noun, base, base)
		}
	}
	return chars, nil
}

// readMetadata reads a backup metadata file; a broken one is reported and
// left out (it describes the export, not the character).
func readMetadata(file string, log *issueLog) json.RawMessage {
	obj, err := readObjectFile(file, log)
	if err != nil {
		log.warn(file, "", "%v; the backup's metadata is not imported (the characters are)", err)
		return nil
	}
	return mustJSON(obj)
}

// readObjectFile reads a JSON object, keeping every key and number as
// written, and text PostgreSQL cannot store repaired (each repair is a
// warning in log; see sanitizeJSON).
func readObjectFile(file string, log *issueLog) (map[string]json.RawMessage, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxProfileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxProfileBytes {
		return nil, fmt.Errorf("the file is larger than %d MB, too large for a profile", maxProfileBytes>>20)
	}
	obj, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	// Repaired only once the file is known to be one JSON object.
	if fixed, fixes := sanitizeJSON(data, ""); len(fixes) > 0 {
		warnFixes(log, file, fixes, false)
		return decodeObject(fixed)
	}
	return obj, nil
}

// decodeObject parses one JSON object and says in words what is wrong when
// it cannot.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the file is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("the file ends in the middle of the JSON (truncated after %d bytes)", len(data))
		case errors.As(err, &se):
			return nil, fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			return nil, fmt.Errorf("expected a JSON object, found %s", te.Value)
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if obj == nil {
		return nil, errors.New("expected a JSON object, found null")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("unexpected data after the end of the JSON object at byte %d", dec.InputOffset())
	}
	return obj, nil
}
