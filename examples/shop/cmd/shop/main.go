// Command shop is the bundled example service: a small JSON HTTP API built the way our
// reference team builds its Go services (static binary, distroless-like runtime image).
//
//	GET /healthz          200 "ok" (liveness/readiness probe)
//	GET /                 the service's name, version and product count
//	GET /products         every product
//	GET /products/{sku}   one product, or 404
//
// It listens on $SHOP_ADDR (default ":8080") and stops cleanly on SIGTERM/SIGINT.
// `shop -healthcheck` probes a running instance (for HEALTHCHECK: the image has no curl).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"example.com/shop/internal/catalog"
)

// version is set at build time: -ldflags "-X main.version=...".
var version = "dev"

func newHandler(cat *catalog.Catalog) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/products", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, cat.All())
	})
	mux.HandleFunc("/products/", func(w http.ResponseWriter, r *http.Request) {
		p, ok := cat.Get(strings.TrimPrefix(r.URL.Path, "/products/"))
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such product"})
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"service":  "shop",
			"version":  version,
			"products": len(cat.All()),
		})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("shop: writing response: %v", err)
	}
}

func healthcheck(addr string) int {
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "unhealthy: status", resp.StatusCode)
		return 1
	}
	return 0
}

func main() {
	check := flag.Bool("healthcheck", false, "probe a running instance's /healthz and exit")
	flag.Parse()
	addr := os.Getenv("SHOP_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	if *check {
		os.Exit(healthcheck(addr))
	}

	srv := &http.Server{
		Addr:              addr,
		Handler:           newHandler(catalog.Default()),
		ReadHeaderTimeout: 5 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			log.Printf("shop: shutdown: %v", err)
		}
	}()
	log.Printf("shop %s listening on %s", version, addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("shop: %v", err)
	}
}
