// Package shapestest writes synthetic shapes.inc backups for tests and
// benchmarks (the shapes importer's own tests, and tests elsewhere that
// import a backup, e.g. the voice pipeline's): personalities built only from
// the documented shapes (A.4 of the reference notes), deterministic for a
// seed, cycling through every form a field can take (present, empty, null,
// absent, the wrong type, the odd variants exports produce), plus a set of
// deliberately broken ones. It does not import package shapes, so the
// importer's in-package tests can use it.
package shapestest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Kind is one of the record files beside a profile, in the order of
// shapes.RecordKind (a test in package shapes checks they agree).
type Kind int

// Record kinds.
const (
	Memories Kind = iota
	Stories
	Training
	UserPersonalization
	ChatHistory
)

// Suffix is each kind's file name after the slug (shapes' recordSpecs).
var Suffix = map[Kind]string{
	Memories:            "_memories.json",
	Stories:             "_knowledge.json",
	Training:            "_training.json",
	UserPersonalization: "_user_personalization.json",
	ChatHistory:         "_chat_history.json",
}

// Options says what Generate writes.
type Options struct {
	// Personalities is how many importable personalities to write.
	Personalities int
	// Memories per personality (the first few cycle through odd forms).
	Memories int
	// Broken adds the broken cases of brokenCases.
	Broken bool
	Seed   uint64
}

// Personality is one generated personality as written to disk.
type Personality struct {
	Dir     string
	Slug    string // the directory / file base name
	ID      string
	Profile map[string]any
	// Files holds every record file written, by kind, as the records.
	Files map[Kind][]any
	// DeletedMemories is how many memories are marked deleted.
	DeletedMemories int
}

// Backup is what the generator wrote.
type Backup struct {
	Root string
	Good []*Personality
	// Importable broken ones (imported with warnings), by case name.
	Warned map[string]*Personality
}

// Broken case names.
const (
	BrokenTruncated        = "broken-truncated"         // profile cut off mid-JSON
	BrokenGarbage          = "broken-garbage"           // not JSON at all
	BrokenMissing          = "broken-missing"           // no id, no name
	BrokenArray            = "broken-array"             // a list where the profile object should be
	BrokenVoice            = "broken-voice"             // voice_stability 1.7
	BrokenBirthday         = "broken-birthday"          // birthday "13-45"
	BrokenAliasA           = "broken-alias-a"           // claims "Twin"
	BrokenAliasB           = "broken-alias-b"           // claims "twin" too
	BrokenOrphan           = "broken-orphan"            // ghost_memories.json, no ghost.json
	BrokenTruncatedRecords = "broken-truncated-records" // good profile, memory file cut off
	BrokenRecords          = "broken-records"           // some memories are not objects
	BrokenDeleted          = "broken-deleted"           // deleted: true
)

func newGen(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

var words = strings.Fields(`amber archive atlas ballad beacon birch cinder comet compass coral dawn delta ember fable
fern glacier harbor hollow iris juniper kestrel lantern lichen meadow mirror nectar oracle orchid pebble quartz
quill raven ripple saffron sparrow tide thistle umber velvet willow wren yarrow zephyr`)

func sentence(r *rand.Rand, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = words[r.IntN(len(words))]
	}
	return strings.Join(parts, " ")
}

func uuidFor(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff)
}

// WriteJSON writes v as indented JSON to path, creating directories.
func WriteJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	WriteFile(t, path, b)
}

// WriteFile writes b to path, creating directories.
func WriteFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Generate writes a backup under a new temporary directory.
func Generate(t testing.TB, opts Options) *Backup {
	t.Helper()
	root := t.TempDir()
	r := newGen(opts.Seed)
	g := &Backup{Root: root, Warned: map[string]*Personality{}}
	for i := range opts.Personalities {
		p := genProfile(r, i)
		g.Good = append(g.Good, p)
		genRecords(r, p, i, opts.Memories)
		p.write(t, root)
	}
	if opts.Broken {
		g.writeBroken(t, r, opts.Memories)
	}
	return g
}

func (p *Personality) write(t testing.TB, root string) {
	t.Helper()
	p.Dir = filepath.Join(root, p.Slug)
	WriteJSON(t, filepath.Join(p.Dir, p.Slug+".json"), p.Profile)
	for kind, recs := range p.Files {
		var doc any = recs
		switch kind {
		case ChatHistory:
			doc = map[string]any{
				"shape_id": p.ID, "shape_name": p.Profile["name"], "message_count": len(recs),
				"date_range":  map[string]any{"earliest": "2024-01-01T00:00:00Z", "latest": "2024-06-01T00:00:00Z"},
				"export_date": "2025-07-22T10:00:00Z", "messages": recs,
			}
		case Memories:
			// Both wrappings exports use, and the bare list.
			switch len(p.Slug) % 3 {
			case 1:
				doc = map[string]any{"items": recs, "pagination": map[string]any{"page": 1, "total_pages": 1, "has_next": false}}
			case 2:
				doc = map[string]any{"memories": recs}
			}
		case UserPersonalization:
			if len(recs) == 1 {
				doc = recs[0] // the usual form: one object
			}
		}
		WriteJSON(t, filepath.Join(p.Dir, p.Slug+Suffix[kind]), doc)
	}
}

// genProfile builds profile i, choosing each field's form from i so that
// 66 personalities cover every form several times.
func genProfile(r *rand.Rand, i int) *Personality {
	id := uuidFor(r)
	slug := fmt.Sprintf("gen-%02d-%s", i, words[i%len(words)])
	name := fmt.Sprintf("Gen %s %d", strings.ToUpper(words[i%len(words)][:1])+words[i%len(words)][1:], i)
	if i%7 == 3 {
		name = fmt.Sprintf("Zoë Ünïcode %d 🌙", i)
	}
	p := map[string]any{"id": id, "name": name}

	switch i % 11 {
	case 5: // no username: the slug comes from the file name
	case 4:
		p["username"] = strings.ToUpper(slug[:1]) + slug[1:] // case differs from the slug
	default:
		p["username"] = slug
	}
	switch i % 3 {
	case 0:
		p["avatar"] = "https://files.shapes.inc/avatars/" + slug + ".png"
	case 1:
		p["avatar_url"] = "https://files.shapes.inc/avatars/" + slug + ".webp"
	case 2:
		p["avatar"] = "https://files.shapes.inc/avatars/" + slug + ".png"
		p["avatar_url"] = "https://cdn.shapes.inc/" + slug + "/other.png"
	}
	if i%10 != 0 {
		p["jailbreak"] = "You are " + name + ". " + sentence(r, 12)
	} else {
		p["jailbreak"] = ""
	}
	text := func(key string, n int) {
		switch (i + len(key)) % 5 {
		case 0:
			p[key] = ""
		case 1:
			p[key] = nil
		case 2: // absent
		default:
			p[key] = sentence(r, n)
		}
	}
	text("user_prompt", 20)
	for _, k := range []string{"personality_traits", "personality_tone", "personality_age", "personality_likes",
		"personality_dislikes", "personality_conversational_goals", "personality_conversational_examples", "personality_history"} {
		text(k, 6)
	}
	if i%4 == 2 {
		p["personality_appearance"] = ""
	} else {
		text("personality_appearance", 8)
	}

	// engine: numbers, numeric strings, absent, null.
	engine := map[string]float64{
		"engine_temperature": float64(r.IntN(200)) / 100, "engine_top_p": float64(r.IntN(100)) / 100,
		"engine_top_k": float64(r.IntN(100)), "engine_frequency_penalty": float64(r.IntN(400)-200) / 100,
		"engine_presence_penalty": float64(r.IntN(400)-200) / 100, "engine_repetition_penalty": float64(r.IntN(200)) / 100,
		"engine_min_p": float64(r.IntN(100)) / 100, "engine_top_a": float64(r.IntN(100)) / 100,
	}
	for k, v := range engine {
		switch i % 4 {
		case 0:
			p[k] = v
		case 1:
			p[k] = fmt.Sprint(v)
		case 3:
			p[k] = nil
		}
	}
	switch i % 5 {
	case 0:
		p["engine_model"] = ""
	case 1:
		p["engine_model"] = "anthropic/claude-3.5-sonnet"
	default:
		p["engine_model"] = "openai/gpt-4o"
	}
	p["fallback_engine_model"] = []any{"", "openai/gpt-4o-mini"}[i%2]
	p["stm_window"] = 10 + i%20
	p["ltm_enabled"] = i%2 == 0
	p["ltm_threshold"] = 0.3 + float64(i%5)/10
	p["ltm_max_retrieved_summaries"] = 4 + i%8

	if i%4 != 0 {
		p["error_message"] = "*" + sentence(r, 3) + "* something went wrong"
	} else {
		p["error_message"] = ""
	}
	p["wack_message"] = []any{"Memory wiped.", "", nil}[i%3]
	p["sleep_message"] = sentence(r, 2)
	switch i % 7 {
	case 0:
		p["birthday"] = fmt.Sprintf("%02d-%02d", 1+i%12, 1+i%28)
	case 1:
		p["birthday"] = fmt.Sprintf("%04d-%02d-%02d", 1950+i, 1+i%12, 1+i%28)
	case 2:
		p["birthday"] = nil
	case 3: // absent
	case 4:
		p["birthday"] = fmt.Sprintf("--%02d-%02d", 1+i%12, 1+i%28)
	case 5:
		p["birthday"] = "02-29"
	case 6:
		p["birthday"] = ""
	}
	switch i % 3 {
	case 0:
		p["keywords"] = []any{words[i%len(words)], "gen"}
		p["favorite_reacts"] = []any{"📚", "✨"}
	case 1:
		p["keywords"] = []any{}
		p["favorite_reacts"] = []any{}
	}
	p["search_description"] = sentence(r, 5)
	p["search_tags_v2"] = []any{"tag" + fmt.Sprint(i%4)}
	settings := map[string]any{"shape_initial_message": "Hello from " + name}
	switch i % 4 {
	case 1:
		settings["appearance"] = "in shape_settings: " + sentence(r, 4)
	case 2:
		settings["status_type"] = "custom"
		settings["status"] = sentence(r, 2)
	case 3:
		settings["appearance"] = ""
		settings["future_setting"] = map[string]any{"nested": []any{1, "two", nil}}
	}
	p["shape_settings"] = settings
	p["created_by"] = uuidFor(r)
	p["timezone"] = []any{"America/New_York", "Europe/London", "Asia/Tokyo"}[i%3]

	switch i % 3 {
	case 0:
		p["voice_model"] = "eleven_multilingual_v2"
		p["voice_id"] = fmt.Sprintf("VOICE%03d", i)
		p["voice_file"] = "https://files.shapes.inc/voice/" + slug + ".mp3"
		p["voice_frequency"] = float64(i%10) / 10
		p["voice_stability"] = float64(r.IntN(101)) / 100
		p["voice_similarity"] = float64(r.IntN(101)) / 100
		p["voice_style"] = float64(r.IntN(101)) / 100
		p["voice_transcription_enabled"] = i%2 == 0
		p["voice_engine_instructions"] = sentence(r, 4)
		p["voice_history_instructions"] = ""
	case 1:
		// Only the transcription switch: on makes a voice config with the
		// default settings, off makes none.
		p["voice_transcription_enabled"] = i%2 == 0
	case 2:
		p["voice_id"] = ""
		p["voice_stability"] = 0.5
		p["voice_similarity"] = "0.75" // a numeric string
	}
	p["image_jailbreak"] = sentence(r, 3)
	p["image_model"] = "flux"
	p["image_size"] = "square_hd"
	p["force_image_size"] = i%2 == 1

	switch i % 5 {
	case 0:
		p["aliases"] = []any{fmt.Sprintf("Alias%d", i), fmt.Sprintf("alt-%d", i)}
	case 1:
		p["aliases"] = []any{map[string]any{"value": fmt.Sprintf("obj%d", i), "originalCase": fmt.Sprintf("Obj%d", i)}}
	case 2:
		// One usable alias and one too long for the schema (101 characters).
		p["aliases"] = []any{fmt.Sprintf("short%d", i), fmt.Sprintf("long%03d", i) + strings.Repeat("x", 94)}
	}

	// Account and moderation fields, kept verbatim in shapesExtra, and the
	// one dropped field (it can carry a token).
	p["user_id"] = []any{uuidFor(r)}
	p["blocked_user_id"] = []any{}
	p["credits_used"] = 12.5
	p["is_high_risk"] = false
	p["auto_moderation_results"] = map[string]any{"flagged": false, "categories": map[string]any{"violence": 0.01}}
	p["language_preset"] = "en"
	p["x_auth_url"] = "https://x.example/oauth?token=GEN-SECRET-" + fmt.Sprint(i)
	p["typical_phrases"] = []any{sentence(r, 3)}
	p["tagline"] = sentence(r, 4)
	p["deleted"] = false
	// Keys no documentation mentions: every JSON type, nested.
	switch i % 4 {
	case 0:
		p["future_flag"] = true
	case 1:
		p["future_object"] = map[string]any{"a": 1, "b": []any{"x", map[string]any{"c": nil}}}
	case 2:
		p["future_number"] = 12345678901234
	case 3:
		p["future_null"] = nil
	}
	return &Personality{Slug: slug, ID: id, Profile: p, Files: map[Kind][]any{}}
}

// Records adds the records personality number i of a backup would have
// (memories of them), for benchmarks that need records without files.
func Records(seed uint64, p *Personality, i, memories int) { genRecords(newGen(seed), p, i, memories) }

// genRecords adds record files to p, each kind on some personalities.
func genRecords(r *rand.Rand, p *Personality, i, memories int) {
	channel := fmt.Sprintf("%d", 100000000000000000+r.Int64N(1e17))
	for m := range memories {
		start := 1.7e9 + float64(i*100000+m*300) + float64(r.IntN(1000))/1000
		rec := map[string]any{
			"id":           uuidFor(r) + "/" + uuidFor(r),
			"shape_id":     p.ID,
			"senders":      []any{uuidFor(r)},
			"result":       fmt.Sprintf("Memory %d of %s: %s", m, p.Slug, sentence(r, 15)),
			"summary_type": "automatic",
			"metadata": map[string]any{
				"start_ts": start, "end_ts": start + 300, "created_at": start + 400.5,
				"senders": []any{}, "discord_channel_id": "", "discord_guild_id": "", "msg_ids": []any{"m1", "m2"},
			},
		}
		switch m % 9 {
		case 1:
			rec["deleted"] = true
			p.DeletedMemories++
		case 2:
			rec["metadata"].(map[string]any)["discord_channel_id"] = channel
			rec["metadata"].(map[string]any)["discord_guild_id"] = channel
		case 3:
			delete(rec, "id") // named by its content
			rec["group"] = true
		case 4:
			rec["deleted"] = false
			delete(rec, "summary_type")
		case 5:
			rec["metadata"].(map[string]any)["created_at"] = "2024-03-01T12:00:00Z"
			rec["extra_field"] = map[string]any{"weight": 0.5}
		}
		p.Files[Memories] = append(p.Files[Memories], rec)
	}
	if i%2 == 0 {
		for s := range 1 + i%3 {
			p.Files[Stories] = append(p.Files[Stories], map[string]any{
				"id": uuidFor(r), "shape_id": p.ID, "story_type": []any{"general", "command", "relationship"}[s%3],
				"title": sentence(r, 2), "content": sentence(r, 20), "metadata": map[string]any{"order": s},
			})
		}
	}
	if i%3 == 0 {
		p.Files[Training] = append(p.Files[Training],
			map[string]any{"id": uuidFor(r), "question": sentence(r, 5), "answer": sentence(r, 8)},
			map[string]any{"question": "no id here", "answer": sentence(r, 4)},
		)
	}
	switch i % 4 {
	case 0:
		p.Files[UserPersonalization] = []any{map[string]any{
			"backstory": sentence(r, 30), "preferred_name": "Sam", "pronouns": "they/them", "engine_temperature": 0.8,
		}}
	case 1:
		p.Files[UserPersonalization] = []any{
			map[string]any{"user_id": uuidFor(r), "backstory": sentence(r, 10), "preferred_name": "Ana", "pronouns": nil},
			map[string]any{"user_id": uuidFor(r), "backstory": "", "preferred_name": "Bo"},
		}
	}
	if i%3 == 1 {
		for m := range 5 {
			msg := map[string]any{
				"id": uuidFor(r), "reply": sentence(r, 8), "message": sentence(r, 6), "ts": 1.71e9 + float64(m*60) + 0.25,
				"voice_reply_url": nil, "attachment_url": nil, "attachment_type": nil,
				"regenerated_replies": []any{}, "fallback_model_used": m == 4,
			}
			if m == 2 {
				msg["reply"] = nil
				msg["attachment_url"] = "https://files.shapes.inc/att/" + fmt.Sprint(m) + ".png"
				msg["attachment_type"] = "image/png"
			}
			p.Files[ChatHistory] = append(p.Files[ChatHistory], msg)
		}
	}
}

// brokenProfile is a small valid profile for a broken case.
func brokenProfile(r *rand.Rand, slug string) *Personality {
	id := uuidFor(r)
	return &Personality{Slug: slug, ID: id, Files: map[Kind][]any{}, Profile: map[string]any{
		"id": id, "name": "Broken " + slug, "username": slug, "jailbreak": "You are " + slug + ".",
	}}
}

func (g *Backup) writeBroken(t testing.TB, r *rand.Rand, memories int) {
	t.Helper()
	dir := func(name string) string { return filepath.Join(g.Root, name) }

	// Unreadable profiles: each fails alone.
	full, _ := json.Marshal(brokenProfile(r, BrokenTruncated).Profile)
	WriteFile(t, filepath.Join(dir(BrokenTruncated), BrokenTruncated+".json"), full[:len(full)/2])
	WriteFile(t, filepath.Join(dir(BrokenGarbage), BrokenGarbage+".json"), []byte("{name: 'not json', id: 7"))
	WriteJSON(t, filepath.Join(dir(BrokenMissing), BrokenMissing+".json"), map[string]any{"username": BrokenMissing, "personality_tone": "lost"})
	WriteJSON(t, filepath.Join(dir(BrokenArray), BrokenArray+".json"), []any{map[string]any{"id": "x", "name": "in a list"}})

	// Importable with warnings.
	v := brokenProfile(r, BrokenVoice)
	v.Profile["voice_id"] = "VOICEBROKEN"
	v.Profile["voice_stability"] = 1.7
	v.Profile["voice_similarity"] = 0.5
	v.Profile["voice_transcription_enabled"] = "yes"
	b := brokenProfile(r, BrokenBirthday)
	b.Profile["birthday"] = "13-45"
	a1 := brokenProfile(r, BrokenAliasA)
	a1.Profile["aliases"] = []any{"Twin", "only-a"}
	a2 := brokenProfile(r, BrokenAliasB)
	a2.Profile["aliases"] = []any{"twin", "only-b"}
	rec := brokenProfile(r, BrokenRecords)
	genRecords(r, rec, 0, 4)
	rec.Files[Memories] = append(rec.Files[Memories], 42, []any{"not", "a", "memory"}, "A bare string memory.")
	for _, p := range []*Personality{v, b, a1, a2, rec} {
		p.write(t, g.Root)
		g.Warned[p.Slug] = p
	}

	// Skipped on purpose.
	d := brokenProfile(r, BrokenDeleted)
	d.Profile["deleted"] = true
	d.write(t, g.Root)

	// A memory file with no profile beside it.
	WriteJSON(t, filepath.Join(dir(BrokenOrphan), "ghost_memories.json"), []any{map[string]any{"id": "g1", "result": "a ghost's memory"}})

	// A good profile whose memory file is cut off: the whole personality
	// must fail, leaving nothing behind.
	tr := brokenProfile(r, BrokenTruncatedRecords)
	tr.Profile["aliases"] = []any{"half-written"}
	genRecords(r, tr, 1, max(memories, 10))
	tr.write(t, g.Root)
	memFile := filepath.Join(tr.Dir, tr.Slug+Suffix[Memories])
	data, err := os.ReadFile(memFile)
	if err != nil {
		t.Fatal(err)
	}
	WriteFile(t, memFile, data[:len(data)*2/3])
}
