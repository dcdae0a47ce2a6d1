import HSNNDaemon
import HSNNOps
import Testing

/// The reference documentation of the daemon's operational sections.
@Suite struct OperationalReferenceTests {
    @Test func referenceListsEveryKeyWithTypeDefaultAndEnvironmentVariable() {
        let markdown = ConfigSchema.hsnn.markdownReference()
        for key in ConfigSchema.hsnn.keys {
            #expect(markdown.contains("| `\(key.path)` | \(key.type.name) |"), "missing row for \(key.path)")
        }
        #expect(markdown.contains(
            "| `kafka.brokers` | string | `\"embedded\"` | `HSNN_KAFKA_BROKERS` |"))
        #expect(markdown.contains(
            "| `joiner.attribution_window_ms` | duration (ms) | `600000` | `HSNN_JOINER_ATTRIBUTION_WINDOW_MS` |"))
        #expect(markdown.contains("| `checkpoint.file_mode` | octal mode | `\"0640\"` | `HSNN_CHECKPOINT_FILE_MODE` |"))
        #expect(markdown.contains("| `kafka.properties` | string map | `{}` | `HSNN_KAFKA_PROPERTIES__NAME` |"))
        #expect(markdown.contains("Accepted: one of: negative, drop_oldest."))
        #expect(markdown.contains("## `shutdown`"))
    }
}
