package metrics

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolStat is one plugin entry's instance pool at a moment.
type PoolStat struct {
	Plugin            string
	Size, InUse, Idle int
}

// PluginPools exports the instance pools that stats reports at each
// scrape (plugin.Host.PoolStats): a reload changes the set, so the values
// are read, not kept.
func (m *Metrics) PluginPools(stats func() []PoolStat) {
	m.Register(&poolCollector{stats: stats})
}

var (
	poolSizeDesc  = prometheus.NewDesc(Namespace+"_plugin_pool_size", "Instances a plugin entry may run at once (limits.pool_size).", []string{"plugin"}, nil)
	poolInUseDesc = prometheus.NewDesc(Namespace+"_plugin_pool_in_use", "Instances of a plugin entry serving a call now.", []string{"plugin"}, nil)
	poolIdleDesc  = prometheus.NewDesc(Namespace+"_plugin_pool_idle", "Warm instances of a plugin entry waiting for a call.", []string{"plugin"}, nil)
)

type poolCollector struct{ stats func() []PoolStat }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolSizeDesc
	ch <- poolInUseDesc
	ch <- poolIdleDesc
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(poolSizeDesc, prometheus.GaugeValue, float64(s.Size), s.Plugin)
		ch <- prometheus.MustNewConstMetric(poolInUseDesc, prometheus.GaugeValue, float64(s.InUse), s.Plugin)
		ch <- prometheus.MustNewConstMetric(poolIdleDesc, prometheus.GaugeValue, float64(s.Idle), s.Plugin)
	}
}

// DatabasePools exports each pgxpool's Stat under the pool label (its
// key: "main", "ratelimit"). Call it once: the pools share one collector,
// as a registry takes each metric name from one collector only.
func (m *Metrics) DatabasePools(pools map[string]*pgxpool.Pool) {
	if m == nil {
		return
	}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_db_pool_"+name, help, []string{"pool"}, nil)
	}
	m.Register(&dbCollector{pools: pools,
		total:         d("connections", "Open connections in the database pool."),
		idle:          d("idle_connections", "Idle connections in the database pool."),
		inUse:         d("acquired_connections", "Connections in use (acquired) in the database pool."),
		max:           d("max_connections", "The database pool's connection limit."),
		acquires:      d("acquires_total", "Connections acquired from the database pool."),
		emptyAcquires: d("empty_acquires_total", "Acquires that had to wait because no idle connection was ready."),
		canceled:      d("canceled_acquires_total", "Acquires cancelled before a connection was ready."),
		waitSeconds:   d("acquire_wait_seconds_total", "Total time acquires waited on an empty pool."),
	})
}

type dbCollector struct {
	pools                                                                   map[string]*pgxpool.Pool
	total, idle, inUse, max, acquires, emptyAcquires, canceled, waitSeconds *prometheus.Desc
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.inUse, c.max, c.acquires, c.emptyAcquires, c.canceled, c.waitSeconds} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	for name, p := range c.pools {
		if p == nil {
			continue
		}
		s := p.Stat()
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
		}
		k := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, name)
		}
		g(c.total, float64(s.TotalConns()))
		g(c.idle, float64(s.IdleConns()))
		g(c.inUse, float64(s.AcquiredConns()))
		g(c.max, float64(s.MaxConns()))
		k(c.acquires, float64(s.AcquireCount()))
		k(c.emptyAcquires, float64(s.EmptyAcquireCount()))
		k(c.canceled, float64(s.CanceledAcquireCount()))
		k(c.waitSeconds, s.EmptyAcquireWaitTime().Seconds())
	}
}
