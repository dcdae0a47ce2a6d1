extension ConfigSection {
    /// Log output.
    public static let log = ConfigSection("log", doc: "Structured logs, one line per event, to standard output.", keys: [
        ConfigKey("log.level", .string, default: .string("info"), doc: "Lowest level written.",
                  constraints: [.oneOf(["trace", "debug", "info", "notice", "warning", "error", "critical"])]),
        ConfigKey("log.format", .string, default: .string("logfmt"), doc: """
            `logfmt` (`ts=... level=info msg="..." key=value`) or `json` (one object per line).
            """, constraints: [.oneOf(["logfmt", "json"])]),
    ])
}
