package plugintest_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tzurot-go/tzurot/sdk/plugintest"
)

func TestRecorder(t *testing.T) {
	var rec plugintest.Recorder
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.Record(t, r)
		plugintest.WriteJSON(w, map[string]any{"ok": true})
	}))
	defer srv.Close()

	if rec.Count() != 0 {
		t.Fatalf("count = %d before any request", rec.Count())
	}
	req, _ := http.NewRequest("POST", srv.URL+"/v1/messages?beta=1", strings.NewReader(`{"model":"m","stream":true}`))
	req.Header.Set("x-api-key", "sk-test")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("WriteJSON content-type = %q", ct)
	}
	got := rec.Last(t)
	if rec.Count() != 1 || got.Method != "POST" || got.Path != "/v1/messages" || got.Query != "beta=1" ||
		got.Header.Get("x-api-key") != "sk-test" || got.Body["model"] != "m" || got.Body["stream"] != true {
		t.Fatalf("recorded %d, last = %+v", rec.Count(), got)
	}
}

func TestRecorderLastFailsWithoutRequest(t *testing.T) {
	var rec plugintest.Recorder
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		rec.Last(ft)
	}()
	if !ft.failed {
		t.Fatal("Last with no request did not fail the test")
	}
}
