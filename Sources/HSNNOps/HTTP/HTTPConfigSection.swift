extension ConfigSection {
    /// The operations HTTP listener.
    public static let http = ConfigSection("http", doc: """
        The operations listener: `/metrics` (Prometheus), `/healthz`, `/readyz` and `/status` (JSON).
        """, keys: [
        ConfigKey("http.host", .string, default: .string("127.0.0.1"),
                  doc: "Address to bind; `0.0.0.0` or `::` exposes it beyond this machine.",
                  constraints: [.nonEmpty]),
        ConfigKey("http.port", .int, default: .int(9180), doc: "TCP port; 0 picks a free one (logged at start).",
                  constraints: [.range(0...65_535)]),
        ConfigKey("http.header_timeout_ms", .milliseconds, default: .duration(.seconds(10)), doc: """
            Longest a client may take to send a request's line and headers; slower connections are closed.
            """, constraints: [.range(Duration.milliseconds(100)...Duration.seconds(600))]),
        ConfigKey("http.read_timeout_ms", .milliseconds, default: .duration(.seconds(30)), doc: """
            Longest a whole request (headers and body) may take to arrive.
            """, constraints: [.range(Duration.milliseconds(100)...Duration.seconds(3600))]),
        ConfigKey("http.idle_timeout_ms", .milliseconds, default: .duration(.seconds(60)), doc: """
            A keep-alive connection with no request for this long is closed.
            """, constraints: [.range(Duration.milliseconds(100)...Duration.seconds(3600))]),
        ConfigKey("http.max_connections", .int, default: .int(64), doc: """
            Most connections open at once; further ones are closed as soon as they are accepted.
            """, constraints: [.range(1...65_536)]),
    ])
}
