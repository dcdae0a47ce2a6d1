import Logging
import Synchronization

/// A Kafka consumer-group member whose offsets the application manages.
///
/// ## Thread model
/// One thread owned by the application drives the consumer: it calls ``poll(timeout:)`` in a
/// loop (a blocking call: never from the Swift cooperative pool) and finally ``close()``.
/// Rebalances are handled inside `poll` on that thread, through the
/// ``KafkaRebalanceHandler``. The other methods are thread-safe and may also be called
/// from other threads (``statistics`` for metrics, ``commit(_:)`` from a training thread,
/// ``pause(_:)``/``resume(_:)`` for backpressure).
///
/// Poll at least every `max.poll.interval.ms` (librdkafka default 300 s), or the group
/// evicts the member: keep slow work off the polling thread.
///
/// ## Offsets
/// Automatic commit and automatic offset store are off: nothing is committed unless the
/// application calls ``commit(_:)`` or ``commitAsync(_:)``, always with the **next offset to
/// read** (last processed offset + 1). A restarted member of the group resumes from there.
///
/// ## Memory
/// librdkafka prefetches up to ``KafkaConsumerConfiguration/maxPrefetchKilobytes``
/// regardless of how fast `poll` is called; ``pause(_:)`` stops fetching for partitions
/// until ``resume(_:)``.
public final class KafkaConsumer: Sendable {
    private enum State: Sendable {
        case open
        /// `close()` is leaving the group; the final revocation may still commit.
        case closing
        case closed
    }

    private let client: RDKafkaClient
    private let callbacks: ConsumerCallbackState
    private let state = Mutex(State.open)
    private let logger: Logger

    /// Creates a consumer; it joins the group at ``subscribe(topics:)`` and the first poll.
    ///
    /// - Parameters:
    ///   - configuration: Brokers, group, prefetch bound and pass-through properties.
    ///   - rebalanceHandler: Told of every assignment change; `nil` starts assigned
    ///     partitions at their committed offsets and commits nothing on revocation.
    ///   - logger: Receives librdkafka's log lines (metadata `kafka.facility`,
    ///     `kafka.client`) and the bridge's own.
    /// - Throws: ``KafkaError/Code/invalidConfiguration`` naming a rejected property,
    ///   ``KafkaError/Code/clientCreation`` when librdkafka cannot create the client.
    public init(
        configuration: KafkaConsumerConfiguration,
        rebalanceHandler: (any KafkaRebalanceHandler)? = nil,
        logger: Logger
    ) throws {
        let callbacks = ConsumerCallbackState(handler: rebalanceHandler, logger: logger)
        var onStatistics: (@Sendable (UnsafeRawBufferPointer) -> Void)?
        if configuration.statisticsInterval != nil {
            onStatistics = { json in callbacks.recordStatistics(json) }
        }
        let context = RDKafkaCallbackContext(
            logger: logger, onStatistics: onStatistics, onRebalance: { event in callbacks.rebalance(event) },
            onError: { name, message, _ in callbacks.recordError(name: name, message: message) })
        client = try RDKafkaClient(kind: .consumer, properties: configuration.librdkafkaProperties(), context: context)
        self.callbacks = callbacks
        self.logger = logger
        callbacks.owner.withLock { $0 = WeakConsumer(consumer: self) }
    }

    deinit {
        if state.withLock({ $0 }) != .closed {
            logger.debug("consumer released without close(): leaving the group while it is destroyed")
        }
    }

    /// Subscribes to `topics` (replacing any earlier subscription); partitions are assigned
    /// by the group during later polls.
    ///
    /// - Throws: ``KafkaError/Code/subscription``, or ``KafkaError/Code/closed``.
    public func subscribe(topics: [String]) throws {
        try requireState(allowClosing: false)
        try client.subscribe(topics: topics)
        logger.info("subscribed", metadata: ["kafka.topics": "\(topics.joined(separator: ","))", "kafka.client": "\(client.name)"])
    }

    /// Waits up to `timeout` for the next message, serving rebalances, statistics and errors
    /// on the calling thread meanwhile. Key and value are copied into the result.
    ///
    /// - Returns: the next message, or `nil` when none arrived in time (or a transient
    ///   error was logged instead).
    /// - Throws: ``KafkaError/Code/poll`` on a fatal error (recreate the consumer),
    ///   ``KafkaError/Code/assignment`` when the previous rebalance could not be applied,
    ///   ``KafkaError/Code/closed`` after ``close()``.
    public func poll(timeout: Duration) throws -> KafkaConsumerMessage? {
        try poll(timeout: timeout) { KafkaConsumerMessage($0) }
    }

    /// Like ``poll(timeout:)``, but lends the message to `body` without copying it; the
    /// key and value buffers are valid only inside `body`.
    ///
    /// - Returns: what `body` returned, or `nil` when no message arrived in time.
    /// - Throws: what ``poll(timeout:)`` throws, and whatever `body` throws.
    public func poll<Result>(timeout: Duration, _ body: (borrowing KafkaMessageView) throws -> Result) throws -> Result? {
        try requireState(allowClosing: false)
        if let error = callbacks.takeRebalanceError() { throw error }
        switch try client.consumerPoll(timeout: timeout, body) {
        case .message(let result):
            return result
        case .nothing:
            if let error = callbacks.takeRebalanceError() { throw error }
            return nil
        case .endOfPartition(let partition):
            callbacks.partitionEnds.withLock { $0.append(partition) }
            if let error = callbacks.takeRebalanceError() { throw error }
            return nil
        case .error(let name, let message, let partition, let fatal):
            if fatal {
                throw KafkaError(
                    .poll, "fatal consumer error: \(message)",
                    remedy: "The consumer cannot continue: close it and create a new one (restart the service)",
                    librdkafkaError: name)
            }
            var metadata: Logger.Metadata = ["kafka.error": "\(name)", "kafka.client": "\(client.name)"]
            if let partition {
                metadata["kafka.topic"] = "\(partition.topic)"
                metadata["kafka.partition"] = "\(partition.partition)"
            }
            callbacks.recordError(name: name, message: message)
            logger.warning("consumer error: \(message)", metadata: metadata)
            if let error = callbacks.takeRebalanceError() { throw error }
            return nil
        }
    }

    /// Commits offsets and waits for the broker to confirm.
    ///
    /// Each value is the **next offset to read** in its partition: the offset of the last
    /// message whose effects are kept, plus one. A member that later gets the partition
    /// starts there.
    ///
    /// - Throws: ``KafkaError/Code/commit`` (for example after losing the partition in a
    ///   rebalance, or while the group coordinator is unreachable), or
    ///   ``KafkaError/Code/closed``.
    public func commit(_ offsets: [KafkaTopicPartition: Int64]) throws {
        try requireState(allowClosing: true)
        guard !offsets.isEmpty else { return }
        try client.commit(offsets)
        logger.trace("offsets committed", metadata: ["kafka.offsets": "\(RDKafkaClient.describe(offsets))"])
    }

    /// Sends a commit (same offsets as ``commit(_:)``: next offset to read) without waiting;
    /// a failure is logged when a later ``poll(timeout:)`` serves the result. Later commits
    /// of the same partition supersede earlier ones.
    ///
    /// - Throws: ``KafkaError/Code/commit`` when the commit cannot even be sent, or
    ///   ``KafkaError/Code/closed``.
    public func commitAsync(_ offsets: [KafkaTopicPartition: Int64]) throws {
        try requireState(allowClosing: true)
        guard !offsets.isEmpty else { return }
        try client.commitAsync(offsets)
    }

    /// The group's committed offsets (next offset to read) of `partitions`, asking the
    /// broker; partitions without a committed offset are absent.
    ///
    /// - Throws: ``KafkaError/Code/committedOffsets`` (also when `timeout` passes), or
    ///   ``KafkaError/Code/closed``.
    public func committedOffsets(for partitions: [KafkaTopicPartition], timeout: Duration) throws -> [KafkaTopicPartition: Int64] {
        try requireState(allowClosing: true)
        return try client.committed(partitions, timeout: timeout)
    }

    /// Moves assigned partitions to new positions: the next poll returns, for each, the
    /// message at the given offset (or ``KafkaOffset/beginning`` / ``KafkaOffset/end``).
    /// Prefetched messages of those partitions are discarded.
    ///
    /// To choose start offsets while a partition is being assigned, return them from
    /// ``KafkaRebalanceHandler/partitionsAssigned(_:consumer:)`` instead.
    ///
    /// - Throws: ``KafkaError/Code/seek`` (for example for a partition not assigned), or
    ///   ``KafkaError/Code/closed``.
    public func seek(_ offsets: [KafkaTopicPartition: Int64], timeout: Duration) throws {
        try requireState(allowClosing: false)
        guard !offsets.isEmpty else { return }
        try client.seek(offsets, timeout: timeout)
    }

    /// Stops fetching `partitions` until ``resume(_:)``; polls return nothing more from them.
    /// Pausing is part of the assignment: a partition revoked and assigned again starts
    /// unpaused.
    ///
    /// - Throws: ``KafkaError/Code/pauseResume``, or ``KafkaError/Code/closed``.
    public func pause(_ partitions: [KafkaTopicPartition]) throws {
        try requireState(allowClosing: false)
        guard !partitions.isEmpty else { return }
        try client.pause(partitions)
        logger.debug("partitions paused", metadata: ["kafka.partitions": "\(partitions)"])
    }

    /// Resumes fetching paused `partitions` where their consumption stopped.
    ///
    /// - Throws: ``KafkaError/Code/pauseResume``, or ``KafkaError/Code/closed``.
    public func resume(_ partitions: [KafkaTopicPartition]) throws {
        try requireState(allowClosing: false)
        guard !partitions.isEmpty else { return }
        try client.resume(partitions)
        logger.debug("partitions resumed", metadata: ["kafka.partitions": "\(partitions)"])
    }

    /// The partitions currently assigned to this member, sorted.
    ///
    /// - Throws: ``KafkaError/Code/assignment``, or ``KafkaError/Code/closed``.
    public func assignment() throws -> [KafkaTopicPartition] {
        try requireState(allowClosing: true)
        return try client.assignment().sorted()
    }

    /// The latest statistics librdkafka emitted, or `nil` when statistics are off
    /// (``KafkaConsumerConfiguration/statisticsInterval``) or none arrived yet. They arrive
    /// during ``poll(timeout:)``.
    public var statistics: KafkaConsumerStatistics? {
        callbacks.statistics.withLock { $0 }
    }

    /// The partitions whose end the consumer reached since the last call, in order (only with
    /// ``KafkaConsumerConfiguration/reportsPartitionEnd``): every record of each that the broker
    /// held at that moment was returned by ``poll(timeout:)``. A partition reported here has
    /// more records once a later poll returns one of it.
    public func takePartitionEnds() -> [KafkaTopicPartition] {
        callbacks.partitionEnds.withLock { ends in
            defer { ends.removeAll() }
            return ends
        }
    }

    /// Errors librdkafka reported since the consumer was created: client-level errors (broker
    /// connections failing, all brokers down, timeouts) from its error callback and consumer
    /// errors delivered by ``poll(timeout:)``, with the latest one. librdkafka retries these by
    /// itself; the count tells how often it had to.
    public var errors: KafkaErrorTally {
        callbacks.errors.withLock { $0 }
    }

    /// Leaves the group: the rebalance handler sees the final revocation (and may commit)
    /// inside this call. Call it on the polling thread once the poll loop has ended; later
    /// calls do nothing.
    ///
    /// - Throws: ``KafkaError/Code/close`` when leaving the group failed (the group then
    ///   reassigns the partitions after `session.timeout.ms`).
    public func close() throws {
        let proceed = state.withLock { state -> Bool in
            guard state == .open else { return false }
            state = .closing
            return true
        }
        guard proceed else { return }
        defer { state.withLock { $0 = .closed } }
        try client.consumerClose()
        logger.info("consumer closed", metadata: ["kafka.client": "\(client.name)"])
    }

    private func requireState(allowClosing: Bool) throws(KafkaError) {
        let current = state.withLock { $0 }
        switch current {
        case .open: return
        case .closing where allowClosing: return
        case .closing, .closed: throw KafkaError.closed()
        }
    }
}

/// A weak reference: the callback state must not keep its consumer alive.
struct WeakConsumer: Sendable {
    weak var consumer: KafkaConsumer?
}

/// What the consumer's C callbacks update; retained by the client's callback context.
final class ConsumerCallbackState: Sendable {
    let handler: (any KafkaRebalanceHandler)?
    let logger: Logger
    /// The consumer handed to the rebalance handler; set once initialisation finished,
    /// empty again while the consumer is being destroyed.
    let owner = Mutex(WeakConsumer())
    let statistics = Mutex<KafkaConsumerStatistics?>(nil)
    let errors = Mutex(KafkaErrorTally())
    let partitionEnds = Mutex<[KafkaTopicPartition]>([])
    private let rebalanceError = Mutex<KafkaError?>(nil)

    init(handler: (any KafkaRebalanceHandler)?, logger: Logger) {
        self.handler = handler
        self.logger = logger
    }

    func recordStatistics(_ json: UnsafeRawBufferPointer) {
        guard let parsed = KafkaConsumerStatistics(json: json) else {
            logger.debug("librdkafka statistics not understood; ignored")
            return
        }
        statistics.withLock { $0 = parsed }
    }

    func recordError(name: String, message: String) {
        errors.withLock {
            $0.count += 1
            $0.latest = .init(name: name, message: message)
        }
    }

    func takeRebalanceError() -> KafkaError? {
        rebalanceError.withLock { error in
            defer { error = nil }
            return error
        }
    }

    /// Runs the handler for one rebalance event and applies the result; called inside
    /// librdkafka's rebalance callback on the polling thread.
    func rebalance(_ event: RDKafkaRebalance) {
        let consumer = owner.withLock { $0.consumer }
        let metadata: Logger.Metadata = [
            "kafka.partitions": "\(event.partitions.sorted().map(\.description).joined(separator: ","))",
            "kafka.rebalance.protocol": "\(event.isCooperative ? "cooperative" : "eager")",
        ]
        do {
            switch event.kind {
            case .assign:
                logger.info("partitions assigned", metadata: metadata)
                var offsets: [KafkaTopicPartition: Int64] = [:]
                if let handler, let consumer {
                    offsets = handler.partitionsAssigned(event.partitions, consumer: consumer)
                }
                let unmatched = try event.assign(startOffsets: offsets)
                if !unmatched.isEmpty {
                    logger.warning(
                        "start offsets for partitions not being assigned were ignored",
                        metadata: ["kafka.offsets": "\(RDKafkaClient.describe(unmatched))"])
                }
            case .revoke:
                var revokeMetadata = metadata
                revokeMetadata["kafka.lost"] = "\(event.isLost)"
                logger.info("partitions revoked", metadata: revokeMetadata)
                if let handler, let consumer {
                    handler.partitionsRevoked(event.partitions, lost: event.isLost, consumer: consumer)
                }
                try event.unassign()
            case .failure(let name, let message):
                var failureMetadata = metadata
                failureMetadata["kafka.error"] = "\(name)"
                logger.error("rebalance failed: \(message); dropping the assignment until the group rebalances again", metadata: failureMetadata)
                if let handler, let consumer, !event.partitions.isEmpty {
                    handler.partitionsRevoked(event.partitions, lost: true, consumer: consumer)
                }
                try event.unassign()
            }
        } catch {
            logger.error("could not apply the rebalance: \(error)", metadata: metadata)
            rebalanceError.withLock { $0 = error }
        }
    }
}

/// How many errors a client reported, and the latest.
public struct KafkaErrorTally: Sendable, Hashable {
    /// One error: librdkafka's name (`_TRANSPORT`, `_ALL_BROKERS_DOWN`, ...) and message.
    public struct Report: Sendable, Hashable {
        public var name: String
        public var message: String
    }

    /// Errors so far.
    public var count = 0
    /// The most recent one.
    public var latest: Report?

    public init() {}
}
