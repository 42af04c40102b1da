package main

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// Metric families a dashboard query may use: kleidi's own and prom-client's default ones.
var metricName = regexp.MustCompile(`\b(kleidi|process|nodejs)_[a-z0-9_:]+`)

type grafanaDashboard struct {
	UID    string         `json:"uid"`
	Title  string         `json:"title"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Title   string         `json:"title"`
	Type    string         `json:"type"`
	Targets []struct{ Expr string `json:"expr"` } `json:"targets"`
	Panels  []grafanaPanel `json:"panels"`
}

// dashboard checks the Grafana JSON parses and every query names a metric
// family kleidi exports (test/unit/deploy checks the exact names).
func (v *validator) dashboard(rel string) {
	var d grafanaDashboard
	if err := json.Unmarshal(v.read(rel), &d); err != nil {
		v.fail(rel, "not valid dashboard JSON: %v", err)
		return
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		v.fail(rel, "needs a uid, a title and panels")
	}
	queries := 0
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, t := range p.Targets {
				queries++
				if !metricName.MatchString(t.Expr) {
					v.fail(rel, "panel %q: query %q names no kleidi metric", p.Title, t.Expr)
				}
			}
		}
	}
	walk(d.Panels)
	v.pass(rel, fmt.Sprintf("%d panels, %d queries", len(d.Panels), queries))
}
