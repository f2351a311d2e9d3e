package shapes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// RecordCounts says what happened to the records of one kind.
type RecordCounts struct {
	// Read is how many records the files held.
	Read int
	// New, Updated and Unchanged add up to the distinct records written.
	New, Updated, Unchanged int
	// Deleted records (marked deleted at the source) are skipped on purpose.
	Deleted int
	// Invalid records could not be read as records; each has a warning.
	Invalid int
	// Duplicates are records whose id appeared earlier in the same file;
	// the last copy wins.
	Duplicates int
}

func (c *RecordCounts) add(o RecordCounts) {
	c.Read += o.Read
	c.New += o.New
	c.Updated += o.Updated
	c.Unchanged += o.Unchanged
	c.Deleted += o.Deleted
	c.Invalid += o.Invalid
	c.Duplicates += o.Duplicates
}

// changed reports whether writing these records changed the database.
func (c RecordCounts) changed() bool { return c.New > 0 || c.Updated > 0 }

// stagingColumn is a typed column a record kind fills, between source_id
// and source.
type stagingColumn struct {
	name, sqlType string
	// sticky columns keep their stored value when the import has none
	// (a re-import without --owner must not orphan a personalization).
	sticky bool
}

type skipKind int

const (
	keep skipKind = iota
	skipDeleted
	skipInvalid
)

// recordRow is one converted record.
type recordRow struct {
	sourceID string
	cols     []any
	source   json.RawMessage
}

// recordSpec describes one record file kind: its name in a backup, its
// table, and how a record maps to the table's columns.
type recordSpec struct {
	noun   string
	suffix string
	table  string
	// listKeys are the object keys the records may sit under when the file
	// is an object rather than a bare list.
	listKeys []string
	columns  []stagingColumn
	// singleObject: an object without a list is itself the one record.
	singleObject bool
	// headerKey is the custom_fields key for the file's other top-level
	// keys (chat history's shape_name, date_range, ...).
	headerKey string
	convert   func(rc *recordContext, raw json.RawMessage) (recordRow, skipKind)
}

// MaxMemoryRunes is the longest memory text the database takes
// (personality_memories_content_length, schema migration 11).
const MaxMemoryRunes = 16000

var recordSpecs = [numRecordKinds]*recordSpec{
	Memories: {
		noun: "memories", suffix: "_memories.json", table: "personality_memories",
		listKeys: []string{"memories", "items", "data"},
		columns: []stagingColumn{
			{"content", "text", false}, {"summary_type", "text", false}, {"senders", "text[]", false},
			{"discord_channel_id", "text", false}, {"discord_guild_id", "text", false}, {"message_ids", "text[]", false},
			{"started_at", "timestamptz", false}, {"ended_at", "timestamptz", false}, {"remembered_at", "timestamptz", false},
		},
		headerKey: "shapesMemoriesFile",
		convert:   convertMemory,
	},
	Stories: {
		noun: "stories", suffix: "_knowledge.json", table: "personality_stories",
		listKeys:  []string{"stories", "knowledge", "items", "data"},
		columns:   []stagingColumn{{"story_type", "text", false}, {"title", "text", false}, {"content", "text", false}},
		headerKey: "shapesKnowledgeFile",
		convert:   convertStory,
	},
	Training: {
		noun: "training examples", suffix: "_training.json", table: "personality_training_examples",
		listKeys:  []string{"training", "examples", "items", "data"},
		headerKey: "shapesTrainingFile",
		convert:   convertTraining,
	},
	UserPersonalization: {
		noun: "user personalizations", suffix: "_user_personalization.json", table: "personality_user_personalizations",
		listKeys: []string{"personalizations", "items", "data"},
		columns: []stagingColumn{
			{"user_id", "bigint", true}, {"preferred_name", "text", false}, {"pronouns", "text", false}, {"backstory", "text", false},
		},
		singleObject: true,
		headerKey:    "shapesUserPersonalizationFile",
		convert:      convertPersonalization,
	},
	ChatHistory: {
		noun: "chat messages", suffix: "_chat_history.json", table: "personality_chat_messages",
		listKeys:  []string{"messages", "items", "data"},
		columns:   []stagingColumn{{"sent_at", "timestamptz", false}, {"message", "text", false}, {"reply", "text", false}},
		headerKey: "shapesChatHistory",
		convert:   convertChatMessage,
	},
}

// recordKindBySuffix finds the kind of a backup file name.
func recordKindBySuffix(name string) (RecordKind, string, bool) {
	for k, s := range recordSpecs {
		if strings.HasSuffix(name, s.suffix) {
			return RecordKind(k), strings.TrimSuffix(name, s.suffix), true
		}
	}
	return 0, "", false
}

// recordContext is what converting one file's records needs.
type recordContext struct {
	file     string
	shapesID string
	ownerID  *int64
	log      *issueLog
	counts   RecordCounts
	// index of the record being converted, for messages.
	index         int
	listKey       string
	warnedShapeID bool
}

func (rc *recordContext) field(sub string) string {
	base := fmt.Sprintf("[%d]", rc.index)
	if rc.listKey != "" {
		base = rc.listKey + base
	}
	if sub != "" {
		return base + "." + sub
	}
	return base
}

// takeID removes and returns the record's id, or names it by content.
func takeID(obj map[string]json.RawMessage, raw json.RawMessage, keys ...string) string {
	for _, k := range keys {
		if id, ok := recordID(obj[k]); ok {
			delete(obj, k)
			return id
		}
	}
	return contentID(raw)
}

// takeText removes key and returns its text when it is a string; null is
// removed too (nothing to keep). Other kinds stay in obj (the source).
func takeText(obj map[string]json.RawMessage, key string) (*string, bool) {
	raw, ok := obj[key]
	if !ok {
		return nil, false
	}
	if isNull(raw) {
		delete(obj, key)
		return nil, true
	}
	if s, ok := asString(raw); ok {
		delete(obj, key)
		return &s, true
	}
	return nil, false
}

// takeStrings removes key and returns its list when it is a list of strings.
func takeStrings(obj map[string]json.RawMessage, key string) []string {
	raw, ok := obj[key]
	if !ok {
		return []string{}
	}
	if ss, ok := asStrings(raw); ok {
		delete(obj, key)
		if ss == nil {
			ss = []string{}
		}
		return ss
	}
	return []string{}
}

// deletedFlag reports whether the record is marked deleted; a false flag
// is the default and is not kept.
func deletedFlag(obj map[string]json.RawMessage) bool {
	raw, ok := obj["deleted"]
	if !ok {
		return false
	}
	del, isBool := asBool(raw)
	if isBool && !del {
		delete(obj, "deleted")
	}
	return isBool && del
}

// checkShapeID drops a shape_id that names this personality (it is the
// row's personality_id) and warns once per file about one that does not.
func (rc *recordContext) checkShapeID(obj map[string]json.RawMessage) {
	raw, ok := obj["shape_id"]
	if !ok {
		return
	}
	if s, _ := asString(raw); s == rc.shapesID {
		delete(obj, "shape_id")
		return
	}
	if !rc.warnedShapeID {
		rc.warnedShapeID = true
		rc.log.warn(rc.file, rc.field("shape_id"), "records name a different shapes.inc id than the profile (%s); they are imported for this profile and their shape_id is kept", rc.shapesID)
	}
}

func stringOrNil(p *string) any {
	if p == nil || *p == "" {
		return nil
	}
	return *p
}

func timeOrNil(raw json.RawMessage) (any, bool) {
	if raw == nil {
		return nil, true
	}
	t, ok := unixTime(raw)
	if !ok {
		return nil, false
	}
	if t == nil {
		return nil, true
	}
	return *t, true
}

func convertMemory(rc *recordContext, raw json.RawMessage) (recordRow, skipKind) {
	obj, ok := asObject(raw)
	if !ok {
		if s, isText := asString(raw); isText {
			// A bare string is a memory with nothing but its text.
			return recordRow{sourceID: contentID(raw), cols: []any{s, "", []string{}, nil, nil, []string{}, nil, nil, nil}, source: json.RawMessage(`{}`)}, keep
		}
		rc.log.recordWarn(rc.file, rc.field(""), "a memory should be an object but is %s; skipped", jsonKind(raw))
		return recordRow{}, skipInvalid
	}
	if deletedFlag(obj) {
		return recordRow{}, skipDeleted
	}
	id := takeID(obj, raw, "id")
	rc.checkShapeID(obj)
	contentKey := "result"
	content, _ := takeText(obj, "result")
	if content == nil {
		// Some exports call it summary or content.
		for _, k := range []string{"summary", "content", "text"} {
			if c, ok := takeText(obj, k); ok && c != nil {
				content, contentKey = c, k
				break
			}
		}
	}
	if content == nil {
		empty := ""
		content = &empty
		rc.log.recordWarn(rc.file, rc.field("result"), "memory %s has no text; imported empty, its other fields are kept", id)
	}
	if n := utf8.RuneCountInString(*content); n > MaxMemoryRunes {
		// The database holds at most MaxMemoryRunes of a memory's text
		// (what search and prompts use); the whole text stays in the
		// row's source under its own key, so nothing is lost.
		obj[contentKey] = mustJSON(*content)
		cut := string([]rune(*content)[:MaxMemoryRunes])
		content = &cut
		rc.log.recordWarn(rc.file, rc.field(contentKey), "memory %s has %d characters; the first %d are used in replies and search, the whole text is kept in the record's source", id, n, MaxMemoryRunes)
	}
	summaryType, _ := takeText(obj, "summary_type")
	senders := takeStrings(obj, "senders")

	// metadata stays in source verbatim (its float timestamps are not
	// byte-for-byte reproducible from a timestamptz); the columns are typed
	// copies for queries.
	var channel, guild *string
	msgIDs := []string{}
	var started, ended, remembered any
	if meta, ok := asObject(obj["metadata"]); ok {
		channel, _ = takeText(meta, "discord_channel_id")
		guild, _ = takeText(meta, "discord_guild_id")
		if ids, ok := asStrings(meta["msg_ids"]); ok && ids != nil {
			msgIDs = ids
		}
		if len(senders) == 0 {
			if ss, ok := asStrings(meta["senders"]); ok && ss != nil {
				senders = ss
			}
		}
		var okS, okE, okR bool
		started, okS = timeOrNil(meta["start_ts"])
		ended, okE = timeOrNil(meta["end_ts"])
		remembered, okR = timeOrNil(meta["created_at"])
		if !okS || !okE || !okR {
			rc.log.recordWarn(rc.file, rc.field("metadata"), "memory %s has a timestamp that is not a date; the value is kept in the record's source", id)
		}
	}
	if remembered == nil {
		if t, ok := timeOrNil(obj["created_at"]); ok {
			remembered = t
		}
	}
	row := recordRow{
		sourceID: id,
		cols:     []any{*content, deref(summaryType), senders, stringOrNil(channel), stringOrNil(guild), msgIDs, started, ended, remembered},
		source:   mustJSON(obj),
	}
	return row, keep
}

func convertStory(rc *recordContext, raw json.RawMessage) (recordRow, skipKind) {
	obj, ok := asObject(raw)
	if !ok {
		rc.log.recordWarn(rc.file, rc.field(""), "a story should be an object but is %s; skipped", jsonKind(raw))
		return recordRow{}, skipInvalid
	}
	if deletedFlag(obj) {
		return recordRow{}, skipDeleted
	}
	id := takeID(obj, raw, "id")
	rc.checkShapeID(obj)
	storyType, _ := takeText(obj, "story_type")
	if storyType == nil || *storyType == "" {
		general := "general"
		storyType = &general
	}
	title, _ := takeText(obj, "title")
	content, _ := takeText(obj, "content")
	if content == nil {
		empty := ""
		content = &empty
		rc.log.recordWarn(rc.file, rc.field("content"), "story %s has no text; imported empty, its other fields are kept", id)
	}
	return recordRow{sourceID: id, cols: []any{*storyType, deref(title), *content}, source: mustJSON(obj)}, keep
}

// convertTraining keeps each example whole: their shape varies between
// exports and nothing reads them yet.
func convertTraining(rc *recordContext, raw json.RawMessage) (recordRow, skipKind) {
	id := contentID(raw)
	if obj, ok := asObject(raw); ok {
		if deletedFlag(obj) {
			return recordRow{}, skipDeleted
		}
		if s, ok := recordID(obj["id"]); ok {
			id = s
		}
	}
	return recordRow{sourceID: id, source: compactJSON(raw)}, keep
}

func convertPersonalization(rc *recordContext, raw json.RawMessage) (recordRow, skipKind) {
	obj, ok := asObject(raw)
	if !ok {
		rc.log.recordWarn(rc.file, rc.field(""), "a user personalization should be an object but is %s; skipped", jsonKind(raw))
		return recordRow{}, skipInvalid
	}
	// One backup holds its owner's personalization; exports that list
	// several name each by user.
	id := "backup-owner"
	for _, k := range []string{"user_id", "id"} {
		if s, ok := recordID(obj[k]); ok {
			id = s
			break
		}
	}
	rc.checkShapeID(obj)
	name, _ := takeText(obj, "preferred_name")
	pronouns, _ := takeText(obj, "pronouns")
	backstory, _ := takeText(obj, "backstory")
	var owner any
	if rc.ownerID != nil {
		owner = *rc.ownerID
	}
	return recordRow{sourceID: id, cols: []any{owner, deref(name), deref(pronouns), deref(backstory)}, source: mustJSON(obj)}, keep
}

func convertChatMessage(rc *recordContext, raw json.RawMessage) (recordRow, skipKind) {
	obj, ok := asObject(raw)
	if !ok {
		rc.log.recordWarn(rc.file, rc.field(""), "a chat message should be an object but is %s; skipped", jsonKind(raw))
		return recordRow{}, skipInvalid
	}
	id := takeID(obj, raw, "id")
	message, _ := takeText(obj, "message")
	reply, _ := takeText(obj, "reply")
	sent, ok := timeOrNil(obj["ts"])
	if !ok {
		rc.log.recordWarn(rc.file, rc.field("ts"), "message %s has a time that is not a date; kept in the record's source", id)
	}
	var msg, rep any
	if message != nil {
		msg = *message
	}
	if reply != nil {
		rep = *reply
	}
	return recordRow{sourceID: id, cols: []any{sent, msg, rep}, source: mustJSON(obj)}, keep
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// rowSource feeds one record file to pgx.CopyFrom, converting records as
// COPY asks for them: the file is read once, front to back, and only the
// current record is in memory.
type rowSource struct {
	spec *recordSpec
	rr   *recordReader
	rc   *recordContext
	seq  int64
	row  []any
	err  error
	// single is set when the file was one object that is itself the record.
	singleDone bool
}

func newRowSource(spec *recordSpec, r io.Reader, rc *recordContext) *rowSource {
	return &rowSource{spec: spec, rr: newRecordReader(r, spec.listKeys...), rc: rc}
}

// Next implements pgx.CopyFromSource.
func (s *rowSource) Next() bool {
	for {
		raw, err := s.rr.Next()
		if errors.Is(err, io.EOF) {
			if s.spec.singleObject && s.seq == 0 && !s.singleDone && s.rr.ListKey == "" && len(s.rr.Header) > 0 {
				// The whole object was the record.
				s.singleDone = true
				raw = mustJSON(s.rr.Header)
				s.rr.Header = map[string]json.RawMessage{}
				s.rc.index = 0
			} else {
				return false
			}
		} else if err != nil {
			s.err = err
			return false
		} else {
			s.rc.index = s.rr.Index
			s.rc.listKey = s.rr.ListKey
		}
		s.rc.counts.Read++
		if fixed, fixes := sanitizeJSON(raw, s.rc.field("")); len(fixes) > 0 {
			warnFixes(s.rc.log, s.rc.file, fixes, true)
			raw = fixed
		}
		row, skip := s.spec.convert(s.rc, raw)
		switch skip {
		case skipDeleted:
			s.rc.counts.Deleted++
			continue
		case skipInvalid:
			s.rc.counts.Invalid++
			continue
		}
		s.seq++
		s.row = s.row[:0]
		s.row = append(s.row, s.seq, row.sourceID)
		s.row = append(s.row, row.cols...)
		s.row = append(s.row, row.source)
		return true
	}
}

// Values implements pgx.CopyFromSource.
func (s *rowSource) Values() ([]any, error) { return s.row, nil }

// Err implements pgx.CopyFromSource.
func (s *rowSource) Err() error { return s.err }

// stagingColumns is the COPY column list: seq, source_id, typed columns, source.
func (spec *recordSpec) stagingColumns() []string {
	cols := []string{"seq", "source_id"}
	for _, c := range spec.columns {
		cols = append(cols, c.name)
	}
	return append(cols, "source")
}
