package main

// voiceSchema is the JSON Schema (draft 2020-12) of the voice settings
// this plugin takes (Description.VoiceSchema). The portable keys every
// voice plugin must accept are accepted and ignored: OpenAI-compatible
// speech has no stability or similarity knobs. A typo is refused
// (additionalProperties false) rather than silently dropped.
const voiceSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "stability": {"type": "number", "minimum": 0, "maximum": 1,
      "description": "Accepted and ignored: OpenAI-compatible voices have no stability setting."},
    "similarity_boost": {"type": "number", "minimum": 0, "maximum": 1,
      "description": "Accepted and ignored: OpenAI-compatible voices have no similarity setting."},
    "style": {"type": "number", "minimum": 0, "maximum": 1,
      "description": "Accepted and ignored: OpenAI-compatible voices have no style setting; use instructions."},
    "speaker_boost": {"type": "boolean",
      "description": "Accepted and ignored: OpenAI-compatible voices have no speaker boost."},
    "speed": {"type": "number", "minimum": 0.25, "maximum": 4,
      "description": "Speaking speed, 1 is normal (0.25 to 4)."},
    "instructions": {"type": "string", "maxLength": 4096,
      "description": "How to speak (tone, accent, emotion), e.g. \"Speak slowly, in a warm, teasing voice.\" Only gpt-4o-mini-tts and local models take it; tts-1 and tts-1-hd ignore it."}
  }
}`
