//go:build !wasip1

package main

import "github.com/tzurot-go/tzurot/internal/providerfake"

// fakeAPI is Anthropic's Messages API on loopback (internal/providerfake,
// shared with the chat pipeline's end-to-end tests).
type fakeAPI = providerfake.Anthropic

// Keys the fake API knows. Anything else is refused with a 401.
const (
	keyGood   = providerfake.AnthropicKeyGood
	keyBroke  = providerfake.AnthropicKeyBroke // credit balance too low
	keyFlaky  = providerfake.AnthropicKeyFlaky // /v1/models answers 529
	keyBadOne = providerfake.AnthropicKeyWrong
)
