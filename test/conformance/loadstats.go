package main

import (
	"sort"
	"strings"
	"time"
)

// opStats is one operation's result in the JSON report.
type opStats struct {
	Count      int                `json:"count"`
	Errors     int                `json:"errors"`
	PerSecond  float64            `json:"throughput_per_s"`
	LatencyMs  map[string]float64 `json:"latency_ms"`
	FirstError string             `json:"first_error,omitempty"`
}

func merge(workers []*worker, op string, elapsed time.Duration) *opStats {
	var all []time.Duration
	st := &opStats{LatencyMs: map[string]float64{}}
	for _, w := range workers {
		all = append(all, w.lat[op]...)
		st.Errors += w.errs[op]
		if w.err != nil && st.FirstError == "" && strings.HasPrefix(w.err.Error(), op) {
			st.FirstError = w.err.Error()
		}
	}
	if len(all) == 0 && st.Errors == 0 {
		return nil
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	st.Count = len(all)
	st.PerSecond = round(float64(len(all)) / elapsed.Seconds())
	for name, q := range map[string]float64{"p50": 0.50, "p99": 0.99, "p999": 0.999, "max": 1} {
		st.LatencyMs[name] = percentile(all, q)
	}
	return st
}

// percentile uses the nearest-rank method on sorted samples, in milliseconds.
func percentile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	idx := int(q*float64(len(sorted))+0.999999) - 1
	idx = max(0, min(idx, len(sorted)-1))
	return round(float64(sorted[idx].Microseconds()) / 1000)
}

func round(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
