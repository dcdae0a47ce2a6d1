import Foundation

extension DecodeBenchmark.Result: CustomStringConvertible {
    /// A human-readable table.
    public var description: String {
        var lines = ["decode benchmark: one thread, \(messageCount) distinct messages per set, "
            + "impressions \(format(meanImpressionBytes, 0)) B mean, mixed \(format(meanMixedBytes, 0)) B mean"]
        for m in measurements {
            lines.append("  \(m.name.padding(toLength: 42, withPad: " ", startingAt: 0)) "
                + "\(format(m.eventsPerSecond, 0).leftPadded(11)) events/s  \(format(m.megabytesPerSecond, 1).leftPadded(8)) MB/s"
                + "  \(format(m.eventsPerCPUSecond, 0).leftPadded(11)) events/cpu-s"
                + (m.failures > 0 ? "  (\(m.failures) failures)" : ""))
        }
        if let ratio = speedupOverJSONSerialization { lines.append("  hsnn / JSONSerialization (per cpu-s): \(format(ratio, 1))x") }
        if let ratio = speedupOverJSONDecoder { lines.append("  hsnn / JSONDecoder (per cpu-s):       \(format(ratio, 1))x") }
        return lines.joined(separator: "\n")
    }

    /// One JSON object on one line, for machine consumption.
    public var jsonLine: String {
        var fields = [
            "\"benchmark\":\"decode\"", "\"threads\":1", "\"messages\":\(messageCount)",
            "\"mean_impression_bytes\":\(format(meanImpressionBytes, 1))", "\"mean_mixed_bytes\":\(format(meanMixedBytes, 1))",
        ]
        for m in measurements {
            fields.append("\"\(m.name)\":{\"events_per_s\":\(format(m.eventsPerSecond, 0)),\"mb_per_s\":\(format(m.megabytesPerSecond, 2)),\"events_per_cpu_s\":\(format(m.eventsPerCPUSecond, 0)),\"failures\":\(m.failures)}")
        }
        if let ratio = speedupOverJSONSerialization { fields.append("\"speedup_vs_jsonserialization\":\(format(ratio, 2))") }
        if let ratio = speedupOverJSONDecoder { fields.append("\"speedup_vs_jsondecoder\":\(format(ratio, 2))") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

private func format(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
