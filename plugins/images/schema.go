package main

// imageSchema is the JSON Schema (draft 2020-12) of the image settings
// this plugin takes (Description.ImageSchema): a personality's image
// config parameters. A typo is refused (additionalProperties false) rather
// than silently dropped. Each value is mapped to what the chosen model
// takes (docs/providers.md, "Image providers").
const imageSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "size": {"enum": ["auto", "256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792"],
      "description": "Width x height in pixels. gpt-image-1 makes 1024x1024, 1536x1024, 1024x1536 (or auto); dall-e-3 1024x1024, 1792x1024, 1024x1792; dall-e-2 256x256 to 1024x1024. Chat image models (Gemini) get the matching aspect ratio."},
    "quality": {"enum": ["auto", "low", "medium", "high", "standard", "hd"],
      "description": "gpt-image-1 takes low, medium, high, auto; dall-e-3 standard or hd (low and medium become standard, high becomes hd). Chat image models have no quality setting."},
    "style": {"type": "string", "maxLength": 200,
      "description": "dall-e-3 takes vivid or natural; any other style (\"watercolour\", \"anime\") is added to the prompt."}
  }
}`
