package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gateMetrics count forward-auth decisions per gate-file service: allowed and denied, and
// how long Keygate took to decide (not the proxy's round trip).
type gateMetrics struct {
	decisions *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

func newGateMetrics(reg prometheus.Registerer) *gateMetrics {
	m := &gateMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keygate_gate_decisions_total", Help: "Forward-auth (/-/gate) decisions by gate-file service and result (allowed, denied).",
		}, []string{"service", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keygate_gate_decision_seconds", Help: "Time Keygate took to decide a forward-auth request, by gate-file service.",
			Buckets: []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05},
		}, []string{"service"}),
	}
	reg.MustRegister(m.decisions, m.latency)
	return m
}

// GateDecision records one decision (forwardauth.Observer).
func (m *gateMetrics) GateDecision(service string, allowed bool, d time.Duration) {
	result := "denied"
	if allowed {
		result = "allowed"
	}
	m.decisions.WithLabelValues(service, result).Inc()
	m.latency.WithLabelValues(service).Observe(d.Seconds())
}
