package main

import (
	"bytes"
	"fmt"
	"html"
)

// Chart geometry, in SVG user units.
const (
	chartWidth   = 760
	panelHeight  = 230
	marginLeft   = 56
	marginRight  = 20
	marginTop    = 34
	marginBottom = 40
)

// chartSVG draws, for each throttled run, purges per second and 429s per second against seconds since
// the first DELETE, with Graph's refill rate (20 a second) as a dashed line. It is the chart of
// docs/benchmarks.md, generated from the same run as the table.
func chartSVG(runs []*throttledResult) []byte {
	var b bytes.Buffer
	height := panelHeight*len(runs) + 30
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartWidth, height)
	for i, r := range runs {
		panel(&b, r, float64(i*panelHeight))
	}
	// Legend.
	y := float64(panelHeight*len(runs) + 14)
	legend := []struct{ color, dash, label string }{
		{"#1f77b4", "", "purges per second (DELETE → 204)"},
		{"#d62728", "", "429s per second"},
		{"#555", "5,4", "Graph's refill: 20 writes per second"},
	}
	x := float64(marginLeft)
	for _, l := range legend {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`, x, y, x+22, y, l.color, dashAttr(l.dash))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", x+28, y+4, html.EscapeString(l.label))
		x += 28 + float64(len(l.label))*6.6 + 24
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, d)
}

func panel(b *bytes.Buffer, r *throttledResult, top float64) {
	plotW := float64(chartWidth - marginLeft - marginRight)
	plotH := float64(panelHeight - marginTop - marginBottom)
	x0, y0 := float64(marginLeft), top+float64(marginTop)+plotH // the origin, bottom left
	seconds := max(len(r.Timeline), 1)
	ymax := 20
	for _, c := range r.Timeline {
		ymax = max(ymax, c.Purged, c.Throttled)
	}
	ymax = niceCeil(ymax)
	sx := func(s float64) float64 { return x0 + s/float64(seconds)*plotW }
	sy := func(v float64) float64 { return y0 - v/float64(ymax)*plotH }

	title := fmt.Sprintf("%s, %s requests, ceiling %d writes/s per instance: budget used %.3f, 429 share %.4f",
		instancesText(r.Instances), thousands(r.Requests), r.WritesPerSecond, r.BudgetUsed, r.Share429)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-weight="bold">%s</text>`+"\n", x0, top+18, html.EscapeString(title))
	// Axes, grid and ticks.
	for _, v := range yTicks(ymax) {
		y := sy(float64(v))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`, x0, y, x0+plotW, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%d</text>`+"\n", x0-6, y+4, v)
	}
	step := xStep(seconds)
	for s := 0; s <= seconds; s += step {
		x := sx(float64(s))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>`, x, y0, x, y0+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", x, y0+17, s)
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`, x0, y0, x0+plotW, y0)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x0, y0, x0, y0-plotH)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">seconds since the first DELETE</text>`+"\n", x0+plotW/2, y0+33)
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">per second</text>`+"\n", x0-38, y0-plotH/2)
	// Graph's refill rate.
	y20 := sy(20)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" stroke-dasharray="5,4"/>`+"\n", x0, y20, x0+plotW, y20)
	// The two series, one point per second (at the middle of its second).
	series := func(color string, value func(secondCounts) int) {
		var pts bytes.Buffer
		for s, c := range r.Timeline {
			fmt.Fprintf(&pts, "%.1f,%.1f ", sx(float64(s)+0.5), sy(float64(value(c))))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`+"\n", color, bytes.TrimSpace(pts.Bytes()))
	}
	series("#1f77b4", func(c secondCounts) int { return c.Purged })
	series("#d62728", func(c secondCounts) int { return c.Throttled })
}

// niceCeil rounds n up to 20, 40, 60, 80, 100, 120, 160, 200, 300, …
func niceCeil(n int) int {
	for _, c := range []int{20, 40, 60, 80, 100, 120, 160, 200, 300, 400, 500, 1000} {
		if n <= c {
			return c
		}
	}
	return (n + 999) / 1000 * 1000
}

func yTicks(ymax int) []int {
	step := ymax / 5
	switch {
	case ymax <= 40:
		step = 10
	case ymax <= 120:
		step = 20
	case ymax <= 200:
		step = 40
	}
	var out []int
	for v := 0; v <= ymax; v += step {
		out = append(out, v)
	}
	return out
}

func xStep(seconds int) int {
	for _, s := range []int{5, 10, 20, 30, 60} {
		if seconds/s <= 12 {
			return s
		}
	}
	return 120
}
