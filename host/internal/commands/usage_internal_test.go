package commands

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"slices"
	"testing"
	"time"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// chartOf draws the chart of `days` days, each with some usage, up to 14 March 2026.
func chartOf(t *testing.T, days int) image.Image {
	t.Helper()
	now := time.Date(2026, 3, 14, 15, 9, 0, 0, time.UTC)
	today := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	var daily []store.DailyUsage
	for i := range days {
		daily = append(daily, store.DailyUsage{Day: today.AddDate(0, 0, -i), InputTokens: int64(500 + 37*i), OutputTokens: 20})
	}
	raw, err := dailyChart(daily, now, days, "Your tokens per day (UTC)")
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	return img
}

func isBar(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return r>>8 == 88 && g>>8 == 101 && b>>8 == 242
}

func isInk(img image.Image, x, y int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	return r>>8 < 128 && g>>8 < 128 && b>>8 < 128
}

// runs counts the groups of true values in cols, merging groups at most gap false values apart.
func runs(cols []bool, gap int) int {
	n, last := 0, -gap-1
	for x, on := range cols {
		if !on {
			continue
		}
		if x-last > gap+1 {
			n++
		}
		last = x
	}
	return n
}

// TestUsageChartShowsDatesAndWholeBars reads the rendered PNG as a user sees it: one bar per
// day, every bar whole and clear of the image's edges, and dates under the bars (every day for
// a week, every fifth day for a month, whatever the day count). A 30-day month used to get a
// single date, and the last bar touched (and was cut at) the right edge.
func TestUsageChartShowsDatesAndWholeBars(t *testing.T) {
	for _, tc := range []struct{ days, labels int }{{7, 7}, {30, 6}, {31, 7}, {35, 7}} {
		t.Run(fmt.Sprintf("%d days", tc.days), func(t *testing.T) {
			img := chartOf(t, tc.days)
			b := img.Bounds()
			// The bars: their lowest row, and their extent.
			left, right, bottom := b.Max.X, -1, -1
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					if isBar(img, x, y) {
						left, right, bottom = min(left, x), max(right, x), max(bottom, y)
					}
				}
			}
			if right < 0 {
				t.Fatal("the chart has no bars")
			}
			const clear = 8 // pixels between a bar and the image's edge
			if right > b.Max.X-1-clear || left < b.Min.X+clear {
				t.Errorf("bars span x %d..%d of an image %d wide: the outermost bar touches the edge", left, right, b.Dx())
			}
			// One bar per day, each whole: count them along a row just above their base.
			row := make([]bool, b.Dx())
			for x := range row {
				row[x] = isBar(img, b.Min.X+x, bottom-2)
			}
			if n := runs(row, 0); n != tc.days {
				t.Errorf("%d bars drawn, want %d", n, tc.days)
			}
			// Dates: groups of ink in the band under the bars, from the first bar's left edge on
			// (left of it are the axis and its labels). A date is about 40 pixels wide; dates
			// are more than 12 pixels apart.
			cols := make([]bool, b.Dx())
			for x := left; x < b.Max.X; x++ {
				for y := bottom + 3; y < b.Max.Y; y++ {
					if isInk(img, x, y) {
						cols[x-b.Min.X] = true
					}
				}
			}
			if n := runs(cols, 12); n != tc.labels {
				t.Errorf("%d dates under the bars, want %d", n, tc.labels)
			}
			lastInk := -1
			for x, on := range cols {
				if on {
					lastInk = b.Min.X + x
				}
			}
			if lastInk > b.Max.X-1-clear {
				t.Errorf("the last date reaches x %d of an image %d wide: it touches the edge", lastInk, b.Dx())
			}
		})
	}
}

// TestDayLabels: the tick list behind the dates.
func TestDayLabels(t *testing.T) {
	today := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		days int
		want []string // the labelled ticks, first to last
	}{
		{7, []string{"Mar 8", "Mar 9", "Mar 10", "Mar 11", "Mar 12", "Mar 13", "Mar 14"}},
		{30, []string{"Feb 17", "Feb 22", "Feb 27", "Mar 4", "Mar 9", "Mar 14"}},
		{31, []string{"Feb 12", "Feb 17", "Feb 22", "Feb 27", "Mar 4", "Mar 9", "Mar 14"}},
		{2, []string{"Mar 13", "Mar 14"}},
	} {
		labels := dayLabels(today, tc.days)
		if len(labels) != tc.days {
			t.Errorf("%d days: %d ticks, want one per bar", tc.days, len(labels))
		}
		got := slices.DeleteFunc(slices.Clone(labels), func(s string) bool { return s == "" })
		if !slices.Equal(got, tc.want) {
			t.Errorf("%d days: labelled ticks %q, want %q", tc.days, got, tc.want)
		}
	}
}
