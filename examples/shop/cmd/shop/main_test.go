package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"example.com/shop/internal/catalog"
)

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	newHandler(catalog.Default()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "ok" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
}

func TestUnknownProduct(t *testing.T) {
	rec := httptest.NewRecorder()
	newHandler(catalog.Default()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/products/nope", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("got %d", rec.Code)
	}
}
