package catalog

import "testing"

func TestAllIsSorted(t *testing.T) {
	all := Default().All()
	if len(all) != 3 {
		t.Fatalf("want 3 products, got %d", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].SKU >= all[i].SKU {
			t.Fatalf("not sorted: %q before %q", all[i-1].SKU, all[i].SKU)
		}
	}
}

func TestGet(t *testing.T) {
	if _, ok := Default().Get("mug-001"); !ok {
		t.Fatal("mug-001 not found")
	}
	if _, ok := Default().Get("nope"); ok {
		t.Fatal("unknown SKU found")
	}
}
