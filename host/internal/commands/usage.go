package commands

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"image/color"
	"slices"
	"strings"
	"time"

	"github.com/disgoorg/disgo/discord"
	"github.com/disgoorg/disgo/handler"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tzurot-go/tzurot/host/internal/store"
)

// periodSpan maps a period option to how far back it counts and how many
// daily bars its chart has.
func periodSpan(p string) (string, time.Duration, int, error) {
	switch p {
	case "", periodWeek:
		return "the last 7 days", 7 * 24 * time.Hour, 7, nil
	case periodDay:
		return "the last 24 hours", 24 * time.Hour, 2, nil
	case periodMonth:
		return "the last 30 days", 30 * 24 * time.Hour, 30, nil
	}
	return "", 0, 0, sayf("`%s` is not a period: use day, week or month.", truncate(p, 20))
}

func (c *Commands) usage(ctx context.Context, e *handler.CommandEvent, r *reply) error {
	label, span, days, err := periodSpan(e.SlashCommandInteractionData().String("period"))
	if err != nil {
		return err
	}
	// The chart takes a moment to draw: acknowledge first.
	if err := r.Defer(); err != nil {
		return err
	}
	u, err := c.store.UserByDiscordID(ctx, e.User().ID.String())
	if err != nil {
		return err
	}
	now := c.now()
	since := now.Add(-span)
	totals, err := c.store.UsageForUser(ctx, u.ID, since)
	if err != nil {
		return err
	}
	if len(totals) == 0 {
		return r.Send(fmt.Sprintf("You have used nothing in %s.", label))
	}
	daily, err := c.store.UsageByDay(ctx, u.ID, since, u.Location)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Your usage in %s:\n", label)
	b.WriteString(usageTable(totals))
	png, err := dailyChart(daily, now.In(u.Location), days, "Your tokens per day ("+u.Timezone+")")
	if err != nil {
		return fmt.Errorf("draw usage chart: %w", err)
	}
	return r.Send(b.String(), discord.NewFile("usage.png", "Tokens per day", bytes.NewReader(png)))
}

// usageTable lists totals by provider and model, biggest first.
func usageTable(totals []store.UsageTotal) string {
	type row struct {
		name             string
		req, in, out, ch int64
		images           int64
	}
	var rows []row
	var sum row
	for _, t := range totals {
		name := t.Provider
		if t.Model != "" {
			name += " · " + t.Model
		}
		if t.Kind != store.KindText {
			name += " (" + t.Kind + ")"
		}
		rows = append(rows, row{name, t.Requests, t.InputTokens, t.OutputTokens, t.Characters, t.Images})
		sum.req, sum.in, sum.out = sum.req+t.Requests, sum.in+t.InputTokens, sum.out+t.OutputTokens
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(b.in+b.out, a.in+a.out) })
	var s strings.Builder
	for i, r := range rows {
		if i == 15 {
			fmt.Fprintf(&s, "- … and %d more\n", len(rows)-15)
			break
		}
		fmt.Fprintf(&s, "- **%s**: %s requests, %s tokens in, %s out", r.name, count(r.req), count(r.in), count(r.out))
		if r.ch > 0 {
			fmt.Fprintf(&s, ", %s characters", count(r.ch))
		}
		if r.images > 0 {
			fmt.Fprintf(&s, ", %s images", count(r.images))
		}
		s.WriteString("\n")
	}
	fmt.Fprintf(&s, "Total: %s requests, %s tokens.", count(sum.req), count(sum.in+sum.out))
	return s.String()
}

// count formats n with thin thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Chart geometry, in points. chartMargin keeps everything off the image's
// edges: gonum fits the outermost bars and the last date label flush
// against the canvas, and the last bar came out cut at the right edge.
const (
	chartWidth  = 640
	chartHeight = 320
	chartMargin = 12
)

// dayLabels returns one label per bar of a chart of the last `days` days up
// to today. Up to 10 days every bar is labelled; beyond, every fifth bar
// counting back from today (always labelled), so a month stays readable
// whatever the day count. (The rule used to count from the first day and
// left a 30-day month with today's label alone.)
func dayLabels(today time.Time, days int) []string {
	step := 1
	if days > 10 {
		step = 5
	}
	labels := make([]string, days)
	for i := range days {
		if (days-1-i)%step == 0 {
			labels[i] = today.AddDate(0, 0, i-days+1).Format("Jan 2")
		}
	}
	return labels
}

// dailyChart draws one bar per day (the last `days` days up to today in
// now's zone) of input plus output tokens, as a PNG.
func dailyChart(daily []store.DailyUsage, now time.Time, days int, title string) ([]byte, error) {
	loc := now.Location()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	values := make(plotter.Values, days)
	for i := range days {
		d := today.AddDate(0, 0, i-days+1)
		for _, u := range daily {
			if u.Day.Equal(d) {
				values[i] += float64(u.InputTokens + u.OutputTokens)
			}
		}
	}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "tokens"
	p.Y.Min = 0
	// Headroom above the tallest bar, so it does not run into the title.
	p.Y.Max = max(slices.Max(values)*1.08, 1)
	bars, err := plotter.NewBarChart(values, vg.Points(max(6, 360/float64(days))))
	if err != nil {
		return nil, err
	}
	bars.Color = color.RGBA{R: 88, G: 101, B: 242, A: 255} // Discord blurple
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(dayLabels(today, days)...)
	img := vgimg.PngCanvas{Canvas: vgimg.New(vg.Points(chartWidth), vg.Points(chartHeight))}
	m := vg.Points(chartMargin)
	p.Draw(draw.Crop(draw.New(img), m, -m, m, -m))
	var buf bytes.Buffer
	if _, err := img.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
