// Package catalog holds the shop's products (in memory: the example has no database).
package catalog

import "sort"

// Product is one item for sale; prices are in cents.
type Product struct {
	SKU   string `json:"sku"`
	Name  string `json:"name"`
	Price int64  `json:"price_cents"`
}

// Catalog is a read-only set of products.
type Catalog struct {
	products map[string]Product
}

// Default returns the example catalog.
func Default() *Catalog {
	return New([]Product{
		{SKU: "mug-001", Name: "Dockyard mug", Price: 1200},
		{SKU: "tee-002", Name: "Daemonless T-shirt", Price: 2500},
		{SKU: "stk-003", Name: "Whale sticker", Price: 300},
	})
}

// New builds a catalog from products; a later duplicate SKU wins.
func New(products []Product) *Catalog {
	c := &Catalog{products: make(map[string]Product, len(products))}
	for _, p := range products {
		c.products[p.SKU] = p
	}
	return c
}

// All returns every product, sorted by SKU.
func (c *Catalog) All() []Product {
	out := make([]Product, 0, len(c.products))
	for _, p := range c.products {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

// Get returns the product with this SKU.
func (c *Catalog) Get(sku string) (Product, bool) {
	p, ok := c.products[sku]
	return p, ok
}
