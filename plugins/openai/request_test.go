//go:build !wasip1

package main

import "testing"

func TestSettingsFromConfig(t *testing.T) {
	cases := []struct {
		cfg     map[string]string
		flavor  string
		auth    bool
		wantErr bool
	}{
		{map[string]string{"base_url": "https://api.openai.com/v1/"}, flavorOpenAI, true, false},
		{map[string]string{"base_url": "https://openrouter.ai/api/v1"}, flavorOpenRouter, true, false},
		{map[string]string{"base_url": "http://127.0.0.1:11434/v1"}, flavorLocal, false, false}, // Ollama as in plugins.toml
		{map[string]string{"base_url": "https://10.0.0.5:8000/v1"}, flavorLocal, false, false},  // vLLM on a LAN
		{map[string]string{"base_url": "http://localhost:1234/v1", "auth": "bearer"}, flavorLocal, true, false},
		{map[string]string{"base_url": "https://llm.example.com/v1", "flavor": "local"}, flavorLocal, false, false},
		{map[string]string{"base_url": "https://x/v1", "flavor": "azure"}, "", false, true},
		{map[string]string{"base_url": "https://x/v1", "auth": "basic"}, "", false, true},
		{map[string]string{}, "", false, true},
	}
	for _, c := range cases {
		s, err := newSettings(func(k string) (string, bool) { v, ok := c.cfg[k]; return v, ok && v != "" })
		if (err != nil) != c.wantErr {
			t.Fatalf("%v: err = %v, want error %v", c.cfg, err, c.wantErr)
		}
		if err == nil && (s.Flavor != c.flavor || s.UseAuth != c.auth) {
			t.Errorf("%v: flavor %s auth %v, want %s %v", c.cfg, s.Flavor, s.UseAuth, c.flavor, c.auth)
		}
	}
}
