/// Consumer settings that let librdkafka's mock cluster rebalance a group in seconds rather
/// than the default minutes (it waits up to the session timeout for members to rejoin).
package let fastGroupProperties: [String: String] = [
    "session.timeout.ms": "6000",
    "heartbeat.interval.ms": "500",
    "max.poll.interval.ms": "10000",
    "reconnect.backoff.ms": "50",
    "reconnect.backoff.max.ms": "500",
]
