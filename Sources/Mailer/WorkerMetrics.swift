import Metrics

/// The worker's metrics; the application bootstraps the backend (Prometheus).
struct WorkerMetrics {
    let depth = Gauge(label: "tollgate_email_queue_depth")
    let oldestAge = Gauge(label: "tollgate_email_oldest_queued_seconds")
    let sent = Counter(label: "tollgate_emails_sent_total")
    let failed = Counter(label: "tollgate_emails_failed_total")
    let expired = Counter(label: "tollgate_emails_expired_total")
    let retries = Counter(label: "tollgate_email_retries_total")
    /// From the queueing transaction to the SMTP server's acceptance.
    let latency = Metrics.Timer(label: "tollgate_email_delivery_latency")
}
