package shapes

import (
	"encoding/json"
	"fmt"
	"strings"
)

// CustomV2 holds the v2 record's fields that have no column, by dotted path
// ("profile.bio", "model.endpoint"), verbatim.
const CustomV2 = "v2"

// CustomUnapplied holds, by column name, the values of a v2 record that
// adds to an existing personality whose columns already say something else
// (the existing values win; these are kept, not lost).
const CustomUnapplied = "v2Unapplied"

// v2Fields is every v2 personality key the mapping knows, by dotted path.
var v2Fields = []fieldRule{
	{"id", "special:shapes_id"},
	{"ownerId", "special:owner"}, // also kept in custom_fields.v2
	{"profile.name", "special:slug"},
	{"profile.displayName", "column:name,display_name"},
	{"profile.avatarUrl", "column:avatar_url"},
	{"profile.errorMessage", "column:error_message"},
	{"profile.systemPrompt", "column:system_prompt"},
	{"profile.prompt", "column:character_info"},
	{"profile.temperature", "llm:temperature"}, // also kept in custom_fields.v2
	{"profile.maxTokens", "llm:max_tokens"},    // also kept in custom_fields.v2
	{"model.name", "llm:model"},                // also kept in custom_fields.v2
	{"aliases", "special:aliases"},
	{"removed", "special:deleted"},
}

// readV2 reads a tzurot v2 personalities.json: {personalities: {<id>:
// {...}}, aliases: {<lowercased alias>: <id>}}.
func readV2(file string, log *issueLog) ([]*Character, error) {
	top, err := readObjectFile(file, log)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	rawPersonalities, ok := top["personalities"]
	if !ok {
		return nil, fmt.Errorf("read %s: no \"personalities\" object: this is not a tzurot v2 personality store", file)
	}
	personalities, ok := asObject(rawPersonalities)
	if !ok {
		return nil, fmt.Errorf("read %s: \"personalities\" should be an object keyed by id but is %s", file, jsonKind(rawPersonalities))
	}
	for _, k := range sortedKeys(top) {
		if k != "personalities" && k != "aliases" {
			log.warn(file, k, "unknown top-level field; not imported (it belongs to no personality)")
		}
	}

	byID := map[string]*Character{}
	var chars []*Character
	for _, key := range sortedKeys(personalities) {
		c := mapV2(file, key, personalities[key], log)
		if c == nil {
			continue
		}
		byID[key] = c
		chars = append(chars, c)
	}

	// The top-level alias map is where v2 kept its global aliases.
	if raw, ok := top["aliases"]; ok && !isNull(raw) {
		aliases, ok := asObject(raw)
		if !ok {
			log.fail(file, "aliases", "should be an object mapping alias to personality id but is %s; no global aliases imported", jsonKind(raw))
			return chars, nil
		}
		for _, alias := range sortedKeys(aliases) {
			field := "aliases." + alias
			target, ok := asString(aliases[alias])
			if !ok {
				log.fail(file, field, "should name a personality id but is %s; alias not imported", jsonKind(aliases[alias]))
				continue
			}
			c := byID[target]
			switch {
			case c == nil:
				log.fail(file, field, "points to personality %q, which is not in the file (or could not be read); alias not imported", target)
			case c.Skip != "":
				log.warn(file, field, "points to personality %q, which is %s; alias not imported", target, c.Skip)
			case len([]rune(strings.TrimSpace(alias))) > maxAliasLen:
				c.keepUnusableV2Alias(file, field, strings.TrimSpace(alias), log)
			default:
				c.Aliases = append(c.Aliases, Alias{Name: alias, File: file, Field: field})
			}
		}
	}
	return chars, nil
}

// mapV2 maps one v2 personality record.
func mapV2(file, key string, raw json.RawMessage, log *issueLog) *Character {
	base := "personalities." + key
	obj, ok := asObject(raw)
	if !ok {
		log.fail(file, base, "should be an object but is %s; personality not imported", jsonKind(raw))
		return nil
	}
	flat := map[string]json.RawMessage{}
	for k, v := range obj {
		if k == "profile" || k == "model" {
			if sub, ok := asObject(v); ok {
				for sk, sv := range sub {
					flat[k+"."+sk] = sv
				}
				continue
			}
		}
		flat[k] = v
	}
	used := map[string]bool{}
	text := func(k string) string {
		v, ok := flat[k]
		if !ok || isNull(v) {
			used[k] = true
			return ""
		}
		s, ok := asString(v)
		if !ok {
			return "" // not used: kept verbatim in custom_fields.v2
		}
		used[k] = true
		return strings.TrimSpace(s)
	}

	id := text("id")
	if id == "" {
		id = key
	}
	c := &Character{
		Origin: OriginV2, File: file, ShapesID: "v2:" + id, V2ID: id, EnrichBySlug: true,
		CustomFields: map[string]any{"importSource": "tzurot_v2"},
	}
	name := text("profile.name")
	display := text("profile.displayName")
	c.Slug = slugify(name)
	if c.Slug == "" {
		c.Slug = slugify(id)
	}
	switch {
	case display != "":
		c.Columns.Name = display
	case name != "":
		c.Columns.Name = name
	default:
		c.Columns.Name = id
	}
	if c.Slug == "" || strings.TrimSpace(c.Columns.Name) == "" {
		log.fail(file, base+".profile.name", "required field is missing: no name or id to call the personality by; not imported")
		return nil
	}
	if len([]rune(c.Columns.Name)) > maxNameLen {
		log.warn(file, base+".profile.displayName", "longer than %d characters; shortened, the full name is kept in custom_fields.fullName", maxNameLen)
		c.CustomFields["fullName"] = c.Columns.Name
		c.Columns.Name = truncateRunes(c.Columns.Name, maxNameLen)
	}
	c.Columns.DisplayName = c.Columns.Name
	if display == "" {
		c.Columns.DisplayName = ""
	}
	c.Columns.AvatarURL = text("profile.avatarUrl")
	if msg := text("profile.errorMessage"); msg != "" {
		c.Columns.ErrorMessage = &msg
	}
	c.Columns.SystemPrompt = text("profile.systemPrompt")
	c.Columns.CharacterInfo = text("profile.prompt")

	if owner := text("ownerId"); owner != "" {
		used["ownerId"] = false
		if IsDiscordID(owner) {
			c.OwnerDiscordID = owner
		} else {
			log.warn(file, base+".ownerId", "%q is not a Discord user id; kept in custom_fields.v2", owner)
		}
	}

	// LLM: only when the record says something about the model.
	params := map[string]any{}
	for _, p := range []struct {
		key, param string
		r          paramRange
	}{
		{"profile.temperature", "temperature", paramRange{0, 2, false}},
		{"profile.maxTokens", "max_tokens", paramRange{1, 1 << 31, true}},
	} {
		v, ok := flat[p.key]
		if !ok || isNull(v) {
			continue
		}
		n, f, isNum := asNumber(v)
		if !isNum || f < p.r.min || f > p.r.max || (p.r.integer && f != float64(int64(f))) {
			log.warn(file, base+"."+p.key, "%s is not a valid %s; kept in custom_fields.v2", string(v), p.param)
			continue
		}
		if p.r.integer {
			n = json.Number(fmt.Sprint(int64(f)))
		}
		params[p.param] = n
	}
	model := text("model.name")
	// The model, its knobs and the owner stay in custom_fields.v2 as well:
	// when this record adds to a personality that has its own config (or
	// --owner names another owner) they are not written anywhere else.
	used["model.name"] = false
	if model != "" || len(params) > 0 {
		c.LLM = &LLMConfig{Provider: DefaultProvider, Model: DefaultModel, AdvancedParameters: params, ContextWindowTokens: DefaultContextWindow}
		if model != "" && len(model) <= 200 {
			c.LLM.Model = model
		} else if model != "" {
			log.warn(file, base+".model.name", "longer than 200 characters; kept in custom_fields.v2, the default model is used")
		}
	}

	if v, ok := flat["aliases"]; ok {
		used["aliases"] = true
		if !isNull(v) {
			names, ok := parseAliasList(v)
			if !ok {
				used["aliases"] = false
				log.warn(file, base+".aliases", "should be a list of {value, originalCase} but is %s; kept in custom_fields.v2", jsonKind(v))
			}
			for i, n := range names {
				field := fmt.Sprintf("%s.aliases[%d]", base, i)
				if len([]rune(n)) > maxAliasLen {
					c.keepUnusableV2Alias(file, field, n, log)
					continue
				}
				c.Aliases = append(c.Aliases, Alias{Name: n, File: file, Field: field})
			}
		}
	}
	if v, ok := flat["removed"]; ok {
		if removed, isBool := asBool(v); isBool {
			used["removed"] = true
			if removed {
				c.Skip = "marked removed in the v2 store"
			}
		}
	}

	rest := map[string]json.RawMessage{}
	for k, v := range flat {
		if used[k] {
			continue
		}
		if looksLikeCredential(k, v) {
			log.warn(file, base+"."+k, "looks like a credential; not stored")
			continue
		}
		rest[k] = v
	}
	if len(rest) > 0 {
		v2 := c.v2Custom()
		for k, v := range rest {
			v2[k] = v
		}
	}
	return c
}

// v2UnusableAliases is the custom_fields.v2 key for aliases too long to
// call a personality by (kept, with a warning, like every unusable value).
const v2UnusableAliases = "unusableAliases"

// v2Custom returns custom_fields.v2, creating it.
func (c *Character) v2Custom() map[string]json.RawMessage {
	v2, ok := c.CustomFields[CustomV2].(map[string]json.RawMessage)
	if !ok {
		v2 = map[string]json.RawMessage{}
		c.CustomFields[CustomV2] = v2
	}
	return v2
}

func (c *Character) keepUnusableV2Alias(file, field, alias string, log *issueLog) {
	log.warn(file, field, "alias %q is longer than %d characters, too long to call a personality by; kept in custom_fields.%s.%s",
		alias, maxAliasLen, CustomV2, v2UnusableAliases)
	v2 := c.v2Custom()
	var kept []string
	if raw, ok := v2[v2UnusableAliases]; ok {
		_ = json.Unmarshal(raw, &kept)
	}
	v2[v2UnusableAliases] = mustJSON(append(kept, alias))
}
