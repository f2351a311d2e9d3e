//go:build !wasip1

package main

import "github.com/tzurot-go/tzurot/internal/providerfake"

// fakeAPI is the Gemini API on loopback (internal/providerfake, shared with
// the chat pipeline's end-to-end tests).
type fakeAPI = providerfake.Gemini

// Keys the fake API knows. Anything else is refused as the real API does
// (HTTP 400, reason API_KEY_INVALID).
const (
	keyGood    = providerfake.GeminiKeyGood
	keyLimited = providerfake.GeminiKeyLimited // models list answers 429
	keyFlaky   = providerfake.GeminiKeyFlaky   // models list answers 503
	keyBad     = providerfake.GeminiKeyWrong
)
