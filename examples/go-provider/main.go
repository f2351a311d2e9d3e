//go:build wasip1

// Command go-provider is a complete third-party tzurot provider written
// with nothing but the SDK: it answers with the user's last message
// reversed. Copy it to start a real provider; the SDK calls you would add
// are sdk.HTTP / sdk.Stream (see plugins/openai).
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o go-provider.wasm .
package main

// begin:doc provider
import (
	"strings"

	"github.com/tzurot-go/tzurot/sdk"
	"github.com/tzurot-go/tzurot/sdk/abi"
)

//go:wasmexport describe
func describe() int32 {
	return sdk.Describe(abi.Description{
		Name:         "reverse",
		Version:      "0.1.0",
		Summary:      "Replies with your last message backwards (an SDK example).",
		Capabilities: []string{abi.CapChat, abi.CapValidateKey},
		NeedsKey:     true,
	})
}

//go:wasmexport chat
func chat() int32 {
	return sdk.Handle(func(req abi.ChatRequest) (abi.ChatResponse, error) {
		var last string
		for _, m := range req.Messages {
			if m.Role == abi.RoleUser {
				last = m.Content
			}
		}
		if last == "" {
			return abi.ChatResponse{}, sdk.Errorf(abi.ErrBadRequest, "there is no user message to reverse")
		}
		prefix, _ := sdk.Config("prefix")
		words := strings.Fields(last)
		out := make([]string, 0, len(words))
		for i := len(words) - 1; i >= 0; i-- {
			out = append(out, reverse(words[i]))
			if req.Stream {
				sdk.Emit(out[len(out)-1] + " ")
			}
		}
		content := prefix + strings.Join(out, " ")
		usage := abi.Usage{Kind: abi.UsageText, Model: "reverse-1", InputTokens: int64(len(words)), OutputTokens: int64(len(out))}
		if err := sdk.RecordUsage(usage); err != nil {
			return abi.ChatResponse{}, err
		}
		sdk.Log(abi.LogInfo, "reversed a message", map[string]string{"words": itoa(len(words))})
		return abi.ChatResponse{Content: content, Model: "reverse-1", FinishReason: "stop", Usage: usage}, nil
	})
}

// validate_key checks the key itself, so it reads the raw key: its
// plugins.toml entry needs raw_key = true (without it sdk.APIKey reports no
// key). A real provider asks the provider instead, with sdk.HTTP and Auth,
// and never holds the key.
//
//go:wasmexport validate_key
func validateKey() int32 {
	return sdk.Handle(func(abi.ValidateKeyRequest) (abi.ValidateKeyResult, error) {
		key, ok := sdk.APIKey()
		if !ok {
			return abi.ValidateKeyResult{}, sdk.Errorf(abi.ErrNoKey, "no key to check")
		}
		if !strings.HasPrefix(key, "rev-") {
			return abi.ValidateKeyResult{Status: abi.KeyInvalid, Message: `reverse keys start with "rev-"`}, nil
		}
		return abi.ValidateKeyResult{Status: abi.KeyValid}, nil
	})
}

// reverse reverses by rune, so "Grüße" stays valid UTF-8.
func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func main() {}

// end:doc provider
