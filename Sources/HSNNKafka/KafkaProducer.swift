import Logging
import Synchronization

/// The outcome of one produced message.
public struct KafkaDeliveryReport: Sendable {
    /// The identifier ``KafkaProducer/send(topic:key:value:partition:)`` returned.
    public var messageID: UInt64
    /// The topic the message was produced to.
    public var topic: String
    /// The partition the message went to (or was meant for, when delivery failed).
    public var partition: Int32
    /// The message's offset, or `nil` when delivery failed.
    public var offset: Int64?
    /// Why delivery failed, or `nil` when it succeeded.
    public var error: KafkaError?
}

/// Counts of a producer's messages since it was created.
public struct KafkaDeliveryCounts: Sendable, Hashable {
    /// Messages accepted by ``KafkaProducer/send(topic:key:value:partition:)``.
    public var sent: Int64 = 0
    /// Messages the brokers acknowledged.
    public var delivered: Int64 = 0
    /// Messages that failed (after librdkafka's retries, or `message.timeout.ms`).
    public var failed: Int64 = 0

    /// Messages not yet acknowledged nor failed.
    public var inFlight: Int64 { sent - delivered - failed }
}

/// A Kafka producer with delivery reporting.
///
/// ``send(topic:key:value:partition:)`` copies the message into librdkafka's queue and
/// returns; the brokers acknowledge it later. Delivery reports are served by later sends,
/// ``poll(timeout:)`` and ``flush(timeout:)``, on the calling thread. All methods block
/// (the queue may be full, flush waits): call them off the Swift cooperative pool.
public final class KafkaProducer: Sendable {
    private let client: RDKafkaClient
    private let deliveries: DeliveryTracker
    private let logger: Logger

    /// Creates a producer.
    ///
    /// - Parameters:
    ///   - configuration: Brokers and pass-through properties.
    ///   - logger: Receives librdkafka's log lines.
    ///   - onDelivery: Called with every delivery report, on the thread that serves it.
    /// - Throws: ``KafkaError/Code/invalidConfiguration`` naming a rejected property,
    ///   ``KafkaError/Code/clientCreation``.
    public init(
        configuration: KafkaProducerConfiguration,
        logger: Logger,
        onDelivery: (@Sendable (KafkaDeliveryReport) -> Void)? = nil
    ) throws {
        let deliveries = DeliveryTracker(onDelivery: onDelivery)
        let context = RDKafkaCallbackContext(logger: logger, onDelivery: { deliveries.record($0) })
        client = try RDKafkaClient(kind: .producer, properties: configuration.librdkafkaProperties(), context: context)
        self.deliveries = deliveries
        self.logger = logger
    }

    deinit {
        let pending = deliveries.counts.inFlight
        if pending > 0 {
            logger.warning("producer released with \(pending) messages undelivered (lost); call flush first")
        }
    }

    /// Enqueues a message; blocks while librdkafka's local queue
    /// (`queue.buffering.max.messages`) is full.
    ///
    /// - Parameters:
    ///   - topic: The topic.
    ///   - key: The key (it picks the partition unless `partition` is given), or `nil`.
    ///   - value: The value, or `nil` for a tombstone.
    ///   - partition: A fixed partition, or `nil` to let the partitioner pick.
    /// - Returns: An identifier that the message's ``KafkaDeliveryReport`` carries.
    /// - Throws: ``KafkaError/Code/produce`` when librdkafka refuses the message.
    @discardableResult
    public func send(topic: String, key: [UInt8]?, value: [UInt8]?, partition: Int32? = nil) throws -> UInt64 {
        try withOptionalBytes(key) { key in
            try withOptionalBytes(value) { value in
                try send(topic: topic, keyBytes: key, valueBytes: value, partition: partition)
            }
        }
    }

    /// Like ``send(topic:key:value:partition:)``, from borrowed buffers (copied before the
    /// call returns).
    ///
    /// - Throws: ``KafkaError/Code/produce`` when librdkafka refuses the message.
    @discardableResult
    public func send(
        topic: String, keyBytes: UnsafeRawBufferPointer?, valueBytes: UnsafeRawBufferPointer?, partition: Int32? = nil
    ) throws(KafkaError) -> UInt64 {
        let id = deliveries.nextMessageID()
        try client.produce(topic: topic, partition: partition, key: keyBytes, value: valueBytes, messageID: id)
        deliveries.recordSent()
        client.poll(timeout: .zero)
        return id
    }

    /// Serves delivery reports for up to `timeout`.
    public func poll(timeout: Duration = .zero) {
        client.poll(timeout: timeout)
    }

    /// Waits until every message sent so far is delivered or failed.
    ///
    /// - Throws: ``KafkaError/Code/flushTimedOut`` when messages remain after `timeout`;
    ///   ``KafkaError/Code/deliveryFailed`` when messages sent since the previous flush
    ///   failed (the error describes the first failure).
    public func flush(timeout: Duration) throws {
        if !client.flush(timeout: timeout) {
            throw KafkaError(
                .flushTimedOut, "\(deliveries.counts.inFlight) messages still undelivered after \(timeout)",
                remedy: "Check that the brokers are reachable; flush again or raise the timeout")
        }
        let (failures, first) = deliveries.takeFailures()
        if failures > 0, let first {
            throw KafkaError(
                .deliveryFailed,
                "\(failures) messages failed delivery; first: \(first.topic)/\(first.partition): \(first.message)",
                remedy: "Check the topic exists and the brokers accept the messages (size, ACLs)",
                librdkafkaError: first.name)
        }
    }

    /// Counts of sent, delivered and failed messages.
    public var deliveryCounts: KafkaDeliveryCounts { deliveries.counts }
}

/// Delivery bookkeeping shared with the delivery callback.
final class DeliveryTracker: Sendable {
    private struct State {
        var counts = KafkaDeliveryCounts()
        var lastID: UInt64 = 0
        var failuresSinceFlush: Int64 = 0
        var firstFailure: (topic: String, partition: Int32, name: String, message: String)?
    }

    private let state = Mutex(State())
    private let onDelivery: (@Sendable (KafkaDeliveryReport) -> Void)?

    init(onDelivery: (@Sendable (KafkaDeliveryReport) -> Void)?) {
        self.onDelivery = onDelivery
    }

    var counts: KafkaDeliveryCounts { state.withLock { $0.counts } }

    func nextMessageID() -> UInt64 {
        state.withLock { state in
            state.lastID += 1
            return state.lastID
        }
    }

    func recordSent() {
        state.withLock { $0.counts.sent += 1 }
    }

    func record(_ delivery: RDKafkaDelivery) {
        state.withLock { state in
            if let error = delivery.error {
                state.counts.failed += 1
                state.failuresSinceFlush += 1
                if state.firstFailure == nil {
                    state.firstFailure = (delivery.topic, delivery.partition, error.name, error.message)
                }
            } else {
                state.counts.delivered += 1
            }
        }
        guard let onDelivery else { return }
        onDelivery(KafkaDeliveryReport(
            messageID: delivery.messageID, topic: delivery.topic, partition: delivery.partition,
            offset: delivery.error == nil ? delivery.offset : nil,
            error: delivery.error.map {
                KafkaError(
                    .deliveryFailed, "delivery to \(delivery.topic)/\(delivery.partition) failed: \($0.message)",
                    remedy: "Check the topic exists and the brokers are reachable", librdkafkaError: $0.name)
            }))
    }

    func takeFailures() -> (Int64, (topic: String, partition: Int32, name: String, message: String)?) {
        state.withLock { state in
            defer {
                state.failuresSinceFlush = 0
                state.firstFailure = nil
            }
            return (state.failuresSinceFlush, state.firstFailure)
        }
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
    guard let bytes else { return try body(nil) }
    return try bytes.withUnsafeBytes { try body($0) }
}
