package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors, registered on the server's own
// registry (no global registry). Labels are route patterns and outcomes, never tokens.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	auth     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_http_requests_total", Help: "HTTP requests by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keygate_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_token_authentications_total", Help: "Token authentications by outcome.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.requests, m.duration, m.auth)
	return m
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// AuthResult counts one authentication outcome (api.Observer).
func (m *metrics) AuthResult(result string) { m.auth.WithLabelValues(result).Inc() }
