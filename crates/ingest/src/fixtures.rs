//! The sample payloads of the spec's "Data Inputs" section, verbatim: every decoder's
//! tests decode them and check the result exactly, through the renderings below.

use strata_core::{MetricType, WriteBatch};

/// A batch's samples as `labels value timestamp` lines, in order.
pub fn rendered(batch: &WriteBatch) -> Vec<String> {
    batch
        .samples
        .iter()
        .map(|s| format!("{} {} {}", s.labels, s.v, s.t))
        .collect()
}

/// A batch's metadata as `(metric, type)` pairs, in order.
pub fn kinds(batch: &WriteBatch) -> Vec<(&str, MetricType)> {
    batch
        .metadata
        .iter()
        .map(|m| (m.metric.as_str(), m.kind))
        .collect()
}

/// Prometheus exposition format.
pub const PROMETHEUS: &str = r#"# HELP http_requests_total Total number of HTTP requests
# TYPE http_requests_total counter
http_requests_total{service="ml-inference",endpoint="/predict",method="POST",status="200"} 1247 1722076800000

# HELP http_request_duration_seconds HTTP request duration in seconds
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{service="ml-inference",endpoint="/predict",le="0.01"} 234 1722076800000
http_request_duration_seconds_bucket{service="ml-inference",endpoint="/predict",le="0.05"} 456 1722076800000
http_request_duration_seconds_bucket{service="ml-inference",endpoint="/predict",le="0.1"} 789 1722076800000
http_request_duration_seconds_bucket{service="ml-inference",endpoint="/predict",le="+Inf"} 1247 1722076800000
http_request_duration_seconds_sum{service="ml-inference",endpoint="/predict"} 23.456 1722076800000
http_request_duration_seconds_count{service="ml-inference",endpoint="/predict"} 1247 1722076800000

# HELP prediction_accuracy Current prediction accuracy
# TYPE prediction_accuracy gauge
prediction_accuracy{service="ml-inference",model="momentum_transformer",strategy="default"} 0.742 1722076800000
"#;

/// Custom business metrics.
pub const CUSTOM: &str = r#"{
  "custom_metrics": {
    "timestamp": "2025-07-26T10:30:00Z",
    "source": "prediction-service",
    "metrics": [
      {
        "name": "predictions_generated_total",
        "type": "counter",
        "value": 1247,
        "labels": {
          "service": "ml-inference",
          "model": "momentum_transformer",
          "strategy": "optimized",
          "symbol": "AAPL",
          "confidence_tier": "high"
        }
      },
      {
        "name": "model_inference_duration_ms",
        "type": "histogram",
        "buckets": {
          "5": 234,
          "10": 567,
          "25": 890,
          "50": 1123,
          "100": 1200,
          "+Inf": 1247
        },
        "sum": 18734.5,
        "count": 1247,
        "labels": {
          "service": "ml-inference",
          "model": "momentum_transformer"
        }
      },
      {
        "name": "trading_profit_loss_usd",
        "type": "gauge",
        "value": 12847.32,
        "labels": {
          "user_id": "user_12345",
          "strategy": "momentum_transformer",
          "symbol": "AAPL",
          "time_horizon": "1h"
        }
      }
    ]
  }
}"#;

/// Infrastructure metrics (StatsD format).
pub const STATSD: &str = "# Counter metrics
system.cpu.usage:67.5|g|#service:ml-inference,instance:ml-inference-001
system.memory.usage:72.1|g|#service:ml-inference,instance:ml-inference-001
system.disk.usage:45.2|g|#service:ml-inference,instance:ml-inference-001

# Timer metrics
service.response_time:23|ms|#service:ml-inference,endpoint:/predict
service.database_query_time:8|ms|#service:ml-inference,query_type:feature_fetch

# Counter increments
service.requests:1|c|#service:ml-inference,endpoint:/predict,status:200
service.errors:1|c|#service:ml-inference,endpoint:/predict,error_type:timeout
";

/// Event-based metrics stream.
pub const EVENT: &str = r#"{
  "event_metrics": {
    "event_id": "evt_20250726_103000_001",
    "timestamp": "2025-07-26T10:30:00Z",
    "event_type": "prediction_completed",
    "source_service": "ml-inference",
    "duration_ms": 156,
    "success": true,
    "metrics": {
      "prediction_confidence": 0.78,
      "feature_count": 23,
      "model_version": "v2.1.3",
      "strategy_confidence": 0.85
    },
    "labels": {
      "user_id": "user_12345",
      "symbol": "AAPL",
      "prediction_horizon": "60min",
      "model_name": "momentum_transformer"
    },
    "context": {
      "request_id": "req_789abc",
      "session_id": "sess_456def",
      "correlation_id": "trace_123xyz"
    }
  }
}"#;
