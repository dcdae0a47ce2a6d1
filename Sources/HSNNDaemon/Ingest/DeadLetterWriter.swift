import Foundation
import HSNNKafka
import HSNNPipeline
import Logging
import Metrics
import Synchronization

/// Copies records that could not be decoded, with the error, to the dead-letter topic.
///
/// The copy keeps the original key and value; headers are not used, so the error travels
/// in a JSON envelope: `{"error":{"reason":...,"message":...},"source":{"topic":...,"partition":...,"offset":...},"value_base64":...}`.
final class DeadLetterWriter: Sendable {
    private let producer: KafkaProducer
    private let topic: String
    private let logger: Logger

    /// Copies that could not be made: refused by the producer (too large, say) or not delivered.
    private let failures = Counter(label: MetricName.deadLetterFailed)
    /// The same count, readable here (shared with the delivery-report callback).
    private let failed = FailureCount()

    /// Copies that could not be made so far (`hsnn_dead_letter_failed_total`).
    var failedCopies: Int { failed.value.load(ordering: .relaxed) }

    private final class FailureCount: Sendable {
        let value = Atomic<Int>(0)
        func add() { value.add(1, ordering: .relaxed) }
    }

    init(topic: String, configuration: KafkaProducerConfiguration, logger: Logger) throws {
        self.topic = topic
        self.logger = logger
        let (failures, failed) = (self.failures, self.failed)
        producer = try KafkaProducer(configuration: configuration, logger: logger) { report in
            guard let error = report.error else { return }
            failures.increment()
            failed.add()
            logger.warning("a malformed record's copy was not delivered to the dead-letter topic", metadata: [
                "kafka.topic": "\(report.topic)", "error": "\(error)"])
        }
    }

    func write(_ record: RejectedRecord) {
        let envelope: [String: Any] = [
            "error": ["reason": record.error.reason, "message": record.error.message],
            "source": ["topic": record.partition.topic, "partition": Int(record.partition.partition), "offset": record.offset],
            "value_base64": record.value.map { Data($0).base64EncodedString() } ?? NSNull(),
        ]
        do {
            let value = try JSONSerialization.data(withJSONObject: envelope, options: [.sortedKeys])
            try producer.send(topic: topic, key: record.key, value: [UInt8](value))
            producer.poll()
        } catch {
            failures.increment()
            failed.add()
            logger.warning("could not copy a malformed record to the dead-letter topic", metadata: [
                "kafka.topic": "\(topic)", "error": "\(error)"])
        }
    }

    func close() {
        try? producer.flush(timeout: .seconds(5))
    }
}
