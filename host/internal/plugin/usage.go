package plugin

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/tzurot-go/tzurot/sdk/abi"
)

// Bounds on one usage row a plugin reports. Counts land in integer
// (int32) columns, output and reasoning tokens are summed into one, and a
// row outside them would make the whole batch insert of a reply fail.
// No real call comes near: the largest context windows are ~10M tokens.
const (
	maxUsageCount      = 100_000_000
	maxUsageModelBytes = 256
)

// errTooManyUsageRows refuses a record_usage row past maxUsageRows.
var errTooManyUsageRows = fmt.Errorf("more than %d usage rows in one call", maxUsageRows)

// checkUsage is the one check for usage a plugin reports, through
// record_usage or in a chat response's usage: known kind, counts from 0
// to maxUsageCount (audio_ms included: 100,000,000 ms is over 27 hours), a model name of at most maxUsageModelBytes of UTF-8.
// The provider and plugin fields are not checked: the host overwrites them.
func checkUsage(u abi.Usage) error {
	switch u.Kind {
	case abi.UsageText, abi.UsageVoice, abi.UsageImage, abi.UsageEmbed:
	default:
		return fmt.Errorf("kind %q is not text, voice, image or embed", u.Kind)
	}
	for _, c := range []struct {
		name string
		v    int64
	}{
		{"input_tokens", u.InputTokens}, {"output_tokens", u.OutputTokens},
		{"reasoning_tokens", u.ReasoningTokens}, {"characters", u.Characters}, {"images", u.Images},
		{"audio_ms", u.AudioMS},
	} {
		if c.v < 0 || c.v > maxUsageCount {
			return fmt.Errorf("%s = %d is outside 0..%d", c.name, c.v, maxUsageCount)
		}
	}
	if len(u.Model) > maxUsageModelBytes || !utf8.ValidString(u.Model) {
		return errors.New("model is longer than 256 bytes or not UTF-8")
	}
	return nil
}
