package store_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

func TestImageConfigRoundTripsAndRefusesBadValues(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	id := createPersonality(t, s, "painter")

	if _, ok, err := s.ImageConfig(ctx, id); err != nil || ok {
		t.Fatalf("fresh personality has an image config: ok=%v err=%v", ok, err)
	}
	want := store.ImageConfig{Plugin: "openai-images", Model: "gpt-image-1", Size: "1024x1536", Style: "vivid",
		Parameters: []byte(`{"quality": "high"}`), Enabled: true}
	if err := s.SetImageConfig(ctx, id, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.ImageConfig(ctx, id)
	if err != nil || !ok {
		t.Fatalf("after set: ok=%v err=%v", ok, err)
	}
	if got.Plugin != want.Plugin || got.Model != want.Model || got.Size != want.Size || got.Style != want.Style ||
		!got.Enabled || string(got.Parameters) != `{"quality": "high"}` {
		t.Fatalf("image config = %+v", got)
	}

	// Each refusal names the value, and the stored config stays as it was.
	for _, bad := range []struct {
		c    store.ImageConfig
		want string
	}{
		{store.ImageConfig{Plugin: "Open AI"}, "plugins.toml entry"},
		{store.ImageConfig{Size: "big"}, `size "big"`},
		{store.ImageConfig{Parameters: []byte(`[1,2]`)}, "JSON object"},
		{store.ImageConfig{Model: strings.Repeat("m", 201)}, "200 characters"},
	} {
		err := s.SetImageConfig(ctx, id, bad.c)
		if !errors.Is(err, store.ErrImageConfig) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("SetImageConfig(%+v) = %v, want an error saying %q", bad.c, err, bad.want)
		}
	}
	if again, _, _ := s.ImageConfig(ctx, id); again.Model != "gpt-image-1" {
		t.Fatalf("a refused update changed the config: %+v", again)
	}

	// Switching images off keeps the setup; nil parameters are stored as {}.
	want.Enabled, want.Parameters = false, nil
	if err := s.SetImageConfig(ctx, id, want); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.ImageConfig(ctx, id)
	if got.Enabled || got.Model != "gpt-image-1" || string(got.Parameters) != "{}" {
		t.Fatalf("after disabling: %+v", got)
	}

	// The database refuses what the store's check would, as a user-readable error.
	_, err = s.Pool().Exec(ctx, `UPDATE image_configs SET size = 'huge' WHERE personality_id = $1`, id)
	if err == nil {
		t.Fatal("the database accepted size 'huge'")
	}

	if ok, err := s.DeletePersonality(ctx, id); err != nil || !ok {
		t.Fatalf("delete personality: %v %v", ok, err)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM image_configs`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("image config outlived its personality: %d rows, %v", n, err)
	}
}

func TestToolGrantsAreDenyByDefaultAndNamed(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	id := createPersonality(t, s, "toolsy")
	other := createPersonality(t, s, "plain")

	if tools, err := s.PersonalityTools(ctx, id); err != nil || len(tools) != 0 {
		t.Fatalf("fresh personality has tools %v (%v)", tools, err)
	}
	for _, tool := range []string{"time/now", store.BuiltinImageTool, "web-fetch/fetch_url"} {
		if changed, err := s.GrantTool(ctx, id, tool); err != nil || !changed {
			t.Fatalf("grant %s: %v %v", tool, changed, err)
		}
	}
	if changed, err := s.GrantTool(ctx, id, "time/now"); err != nil || changed {
		t.Fatalf("granting twice: changed=%v err=%v", changed, err)
	}
	for _, bad := range []string{"now", "Time/now", "time/", "/now", "draw image"} {
		if _, err := s.GrantTool(ctx, id, bad); !errors.Is(err, store.ErrToolName) || !strings.Contains(err.Error(), bad) {
			t.Errorf("grant %q = %v, want an error naming it", bad, err)
		}
	}
	tools, err := s.PersonalityTools(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{store.BuiltinImageTool, "time/now", "web-fetch/fetch_url"}; !reflect.DeepEqual(tools, want) {
		t.Fatalf("tools = %v, want %v", tools, want)
	}
	if tools, _ := s.PersonalityTools(ctx, other); len(tools) != 0 {
		t.Fatalf("another personality sees the grants: %v", tools)
	}
	if changed, err := s.RevokeTool(ctx, id, "time/now"); err != nil || !changed {
		t.Fatalf("revoke: %v %v", changed, err)
	}
	if changed, err := s.RevokeTool(ctx, id, "time/now"); err != nil || changed {
		t.Fatalf("revoking twice: changed=%v err=%v", changed, err)
	}
	if _, err := s.Pool().Exec(ctx, `INSERT INTO personality_tools (personality_id, tool) VALUES ($1, 'rm -rf')`, id); err == nil {
		t.Fatal("the database accepted tool 'rm -rf'")
	}
}
