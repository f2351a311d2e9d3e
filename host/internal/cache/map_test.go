package cache

import "testing"

func TestMapStoresOnlyWhatNoInvalidationRaced(t *testing.T) {
	m := NewMap[string, int](10)
	tok := m.Begin()
	m.Put(tok, "a", 1, 1)
	if _, ok := m.Get("a"); ok {
		t.Fatal("stored while the listener was not connected")
	}
	m.Reset(true)
	tok = m.Begin()
	m.DropGroup(2) // a change elsewhere while "a" was being read
	m.Put(tok, "a", 1, 1)
	if _, ok := m.Get("a"); ok {
		t.Fatal("a value read before an invalidation was stored after it")
	}
	m.Put(m.Begin(), "a", 1, 1)
	m.Put(m.Begin(), "b", 1, 2)
	m.Put(m.Begin(), "c", 2, 3)
	m.DropGroup(1)
	if _, ok := m.Get("a"); ok {
		t.Fatal("group 1 kept a")
	}
	if _, ok := m.Get("b"); ok {
		t.Fatal("group 1 kept b")
	}
	if v, ok := m.Get("c"); !ok || v != 3 {
		t.Fatal("dropping group 1 dropped group 2")
	}
	m.Reset(false)
	if m.Len() != 0 {
		t.Fatal("a reset kept entries")
	}
	m.Put(m.Begin(), "c", 2, 3)
	if m.Len() != 0 {
		t.Fatal("stored after the listener went away")
	}
}

func TestMapIsBounded(t *testing.T) {
	m := NewMap[int, int](3)
	m.Reset(true)
	for i := range 10 {
		m.Put(m.Begin(), i, int64(i%2), i)
	}
	if m.Len() != 3 {
		t.Fatalf("%d entries, want the bound of 3", m.Len())
	}
	if v, ok := m.Get(9); !ok || v != 9 {
		t.Fatal("the newest entry is missing")
	}
	// Evicted entries left their groups: dropping every group empties the map.
	m.DropGroup(0)
	m.DropGroup(1)
	if m.Len() != 0 || len(m.group) != 0 {
		t.Fatalf("%d entries, %d groups left", m.Len(), len(m.group))
	}
}
