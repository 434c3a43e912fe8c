package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func printTable(w io.Writer, rs []*result) {
	var base *result
	for _, r := range rs {
		if r.Name == "baseline" {
			base = r
		}
	}
	ratio := func(v, b float64) string {
		if base == nil || b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", v/b)
	}
	fmt.Fprintln(w, "| scenario | req/s | ×baseline | p50 | ×baseline | p99 | ×baseline | max | errors | peak RSS | ×baseline | notes |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rs {
		var b result
		if base != nil {
			b = *base
		}
		notes := ""
		if r.Refused+r.Shed+r.Wrong > 0 {
			notes += fmt.Sprintf("hostile: %d refused with 401, %d shed with 503, %d otherwise; p50/p99 of valid requests only. ", r.Refused, r.Shed, r.Wrong)
		}
		if r.JWKSHits > 0 || strings.HasPrefix(r.Name, "jwt") {
			notes += fmt.Sprintf("JWKS fetches: %d. ", r.JWKSHits)
		}
		if r.Vends != "" {
			notes += "vends " + r.Vends
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %d | %.1f MB | %s | %s |\n",
			r.Name, r.RPS, ratio(r.RPS, b.RPS), ms(r.P50), ratio(float64(r.P50), float64(b.P50)),
			ms(r.P99), ratio(float64(r.P99), float64(b.P99)), ms(r.Max), r.Errors,
			r.PeakRSSMB, ratio(r.PeakRSSMB, b.PeakRSSMB), strings.TrimSpace(notes))
	}
}
