import CRdkafka
import Logging
import Synchronization

/// An `rd_kafka_t *` or `rd_kafka_mock_cluster_t *`.
///
/// `@unchecked Sendable` because librdkafka's handles are thread-safe: its public functions
/// on a client or mock cluster may be called from any thread (librdkafka's INTRODUCTION.md,
/// "Threads and callbacks"; mock cluster commands are posted to the cluster's own thread),
/// and this wrapper never dereferences the pointer itself. Lifetime is not its concern: the
/// one final class owning the pointer (``RDKafkaClient``, ``RDKafkaMockCluster``) frees it in
/// `deinit`, when no other reference can exist.
struct RDKafkaPointer: @unchecked Sendable {
    let raw: OpaquePointer
}

/// What librdkafka's C callbacks reach through the client's opaque pointer.
///
/// The log callback runs on librdkafka's internal threads; every other callback runs inside
/// `rd_kafka_consumer_poll`, `rd_kafka_poll`, `rd_kafka_flush` or `rd_kafka_consumer_close`
/// on the caller's thread. Each closure only records or forwards; none calls back into the
/// bridge except the rebalance handler, which must (it assigns partitions).
final class RDKafkaCallbackContext: Sendable {
    let logger: Logger
    let onStatistics: (@Sendable (UnsafeRawBufferPointer) -> Void)?
    let onRebalance: (@Sendable (RDKafkaRebalance) -> Void)?
    let onDelivery: (@Sendable (RDKafkaDelivery) -> Void)?
    /// Told of every error librdkafka reports through its error callback (name, message, fatal).
    let onError: (@Sendable (String, String, Bool) -> Void)?
    /// Whether the rebalance callback ever delivered an assignment (see
    /// ``RDKafkaClient/destroyWouldAbort``).
    let assignmentSeen = Atomic<Bool>(false)

    init(
        logger: Logger,
        onStatistics: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil,
        onRebalance: (@Sendable (RDKafkaRebalance) -> Void)? = nil,
        onDelivery: (@Sendable (RDKafkaDelivery) -> Void)? = nil,
        onError: (@Sendable (String, String, Bool) -> Void)? = nil
    ) {
        self.logger = logger
        self.onStatistics = onStatistics
        self.onRebalance = onRebalance
        self.onDelivery = onDelivery
        self.onError = onError
    }

    static func from(_ opaque: UnsafeMutableRawPointer) -> RDKafkaCallbackContext {
        Unmanaged<RDKafkaCallbackContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// One delivery report of the producer.
struct RDKafkaDelivery: Sendable {
    var messageID: UInt64
    var topic: String
    var partition: Int32
    var offset: Int64
    /// librdkafka's error name and message when delivery failed.
    var error: (name: String, message: String)?
}

/// A rebalance event, valid only while librdkafka's rebalance callback runs.
///
/// librdkafka waits for the application to assign or unassign inside the callback; the
/// handler calls exactly one of ``assign(startOffsets:)`` or ``unassign()``.
struct RDKafkaRebalance {
    enum Kind: Equatable {
        case assign
        case revoke
        /// Any other rebalance error; the handler must drop the whole assignment.
        case failure(name: String, message: String)
    }

    let kind: Kind
    let partitions: [KafkaTopicPartition]
    /// The group uses the incremental (cooperative) protocol.
    let isCooperative: Bool
    /// The revoked partitions were lost (session timeout, fenced): others may own them now,
    /// and committing their offsets fails.
    let isLost: Bool
    private let handle: OpaquePointer
    private let list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(
        handle: OpaquePointer, error: rd_kafka_resp_err_t, list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) {
        self.handle = handle
        self.list = list
        self.partitions = RDKafkaTopicPartitionList.partitions(of: list)
        self.isCooperative = rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } == "COOPERATIVE"
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            kind = .assign
            isLost = false
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            kind = .revoke
            isLost = rd_kafka_assignment_lost(handle) != 0
        default:
            kind = .failure(name: RDKafkaClient.errorName(error), message: RDKafkaClient.errorMessage(error))
            isLost = false
        }
    }

    /// Adds the event's partitions to the assignment, those in `startOffsets` starting at the
    /// given offset and the others at the committed offset (or `auto.offset.reset`).
    ///
    /// - Returns: the offsets naming a partition that is not part of this assignment (ignored).
    /// - Throws: ``KafkaError/Code/assignment`` when librdkafka refuses the assignment.
    func assign(startOffsets: [KafkaTopicPartition: Int64]) throws(KafkaError) -> [KafkaTopicPartition: Int64] {
        let unmatched = RDKafkaTopicPartitionList.setOffsets(startOffsets, in: list)
        if isCooperative {
            try RDKafkaClient.check(rd_kafka_incremental_assign(handle, list), .assignment, "incremental assign")
        } else {
            try RDKafkaClient.check(rd_kafka_assign(handle, list), .assignment, "assign")
        }
        return unmatched
    }

    /// Removes the event's partitions from the assignment (all of them under the eager
    /// protocol, or after a rebalance failure).
    ///
    /// - Throws: ``KafkaError/Code/assignment`` when librdkafka refuses.
    func unassign() throws(KafkaError) {
        if isCooperative, kind == .revoke {
            try RDKafkaClient.check(rd_kafka_incremental_unassign(handle, list), .assignment, "incremental unassign")
        } else {
            try RDKafkaClient.check(rd_kafka_assign(handle, nil), .assignment, "unassign")
        }
    }
}

/// What one `rd_kafka_consumer_poll` produced.
enum RDKafkaPollResult<Value> {
    case message(Value)
    case nothing
    /// The consumer reached the end of the partition's log (with `enable.partition.eof`).
    case endOfPartition(KafkaTopicPartition)
    /// A consumer error delivered as a message: transient ones are retried by librdkafka;
    /// `fatal` ones end the client.
    case error(name: String, message: String, partition: KafkaTopicPartition?, fatal: Bool)
}

/// Owns one librdkafka client (`rd_kafka_t`); every `rd_kafka_*` call on it goes through here.
final class RDKafkaClient: Sendable {
    enum Kind: Sendable {
        case producer
        case consumer
    }

    // Teardown order: `deinit` destroys `handle` first (librdkafka may still log through
    // `context` while it shuts down), and only then are the stored properties released,
    // `context` among them.
    private let handle: RDKafkaPointer
    /// Reached by the C callbacks through the opaque pointer; retained here for the handle's life.
    let context: RDKafkaCallbackContext
    let kind: Kind
    /// Set by `consumerClose` when destroying the handle later would abort (see `deinit`).
    private let leakOnDeinit = Atomic<Bool>(false)
    private let consumerClosed = Atomic<Bool>(false)

    /// Creates a client with `properties` applied in order and the C callbacks that
    /// `context` asks for.
    ///
    /// - Throws: ``KafkaError/Code/invalidConfiguration`` for a rejected property,
    ///   ``KafkaError/Code/clientCreation`` when `rd_kafka_new` fails.
    init(kind: Kind, properties: [(name: String, value: String)], context: RDKafkaCallbackContext) throws(KafkaError) {
        let config = try RDKafkaConfig(properties: properties)
        guard let conf = config.pointer else { preconditionFailure("fresh configuration") }
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdkafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdkafkaErrorCallback)
        if context.onStatistics != nil {
            rd_kafka_conf_set_stats_cb(conf, rdkafkaStatisticsCallback)
        }
        switch kind {
        case .consumer:
            rd_kafka_conf_set_rebalance_cb(conf, rdkafkaRebalanceCallback)
        case .producer:
            rd_kafka_conf_set_dr_msg_cb(conf, rdkafkaDeliveryCallback)
        }
        var reason = [CChar](repeating: 0, count: 512)
        let created = config.consume { conf in
            rd_kafka_new(kind == .consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, &reason, reason.count)
        }
        guard let created else {
            let text = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError(
                .clientCreation, "librdkafka could not create the \(kind) client: \(text)",
                remedy: "Check the Kafka properties named in the message")
        }
        if kind == .consumer {
            // Serve statistics and error events from rd_kafka_consumer_poll, on the polling thread.
            rd_kafka_poll_set_consumer(created)
        }
        handle = RDKafkaPointer(raw: created)
        self.context = context
        self.kind = kind
    }

    deinit {
        if kind == .consumer, !consumerClosed.load(ordering: .acquiring), destroyWouldAbort {
            leakOnDeinit.store(true, ordering: .relaxed)
        }
        if leakOnDeinit.load(ordering: .acquiring) {
            // librdkafka 2.0.2 asserts in rd_kafka_destroy when a cooperative-sticky consumer
            // was given its group protocol but never an assignment (librdkafka issue 4312,
            // fixed in 2.3.0). Aborting the process is worse than leaking one idle client:
            // keep the handle and the context its threads still call into.
            context.logger.warning(
                "consumer closed before its first assignment under the cooperative protocol: its librdkafka handle is kept alive (librdkafka 2.0.2 would abort destroying it)",
                metadata: ["kafka.client": "\(name)"])
            _ = Unmanaged.passRetained(context)
            return
        }
        rd_kafka_destroy(handle.raw)
    }

    /// Whether `rd_kafka_destroy` would hit librdkafka 2.0.2's cooperative-sticky assertion:
    /// the group chose the cooperative protocol, and no assignment arrived yet.
    private var destroyWouldAbort: Bool {
        guard !context.assignmentSeen.load(ordering: .acquiring),
              let name = rd_kafka_rebalance_protocol(handle.raw)
        else { return false }
        return String(cString: name) == "COOPERATIVE"
    }

    /// The client's name as librdkafka reports it (`client.id#consumer-N`).
    var name: String { String(cString: rd_kafka_name(handle.raw)) }

    /// The raw handle, for the mock cluster that needs one for its bookkeeping.
    var pointerForMockCluster: OpaquePointer { handle.raw }

    // MARK: Consumer

    func subscribe(topics: [String]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(topics: topics)
        try Self.check(rd_kafka_subscribe(handle.raw, list.pointer), .subscription, "subscribe to \(topics)")
    }

    /// Polls once; a message is handed to `body` while librdkafka still owns its memory.
    func consumerPoll<Value>(
        timeout: Duration, _ body: (borrowing KafkaMessageView) throws -> Value
    ) rethrows -> RDKafkaPollResult<Value> {
        guard let message = rd_kafka_consumer_poll(handle.raw, timeout.milliseconds) else { return .nothing }
        defer { rd_kafka_message_destroy(message) }
        let fields = message.pointee
        let topic = fields.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        guard fields.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if fields.err == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                return .endOfPartition(KafkaTopicPartition(topic: topic, partition: fields.partition))
            }
            let fatal = fields.err == RD_KAFKA_RESP_ERR__FATAL
            var text = String(cString: rd_kafka_message_errstr(message))
            var name = Self.errorName(fields.err)
            if fatal {
                var reason = [CChar](repeating: 0, count: 512)
                let underlying = rd_kafka_fatal_error(handle.raw, &reason, reason.count)
                name = Self.errorName(underlying)
                text = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            let partition = fields.rkt == nil ? nil : KafkaTopicPartition(topic: topic, partition: fields.partition)
            return .error(name: name, message: text, partition: partition, fatal: fatal)
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        let view = KafkaMessageView(
            topic: topic, partition: fields.partition, offset: fields.offset,
            key: fields.key.map { UnsafeRawBufferPointer(start: $0, count: fields.key_len) },
            value: fields.payload.map { UnsafeRawBufferPointer(start: $0, count: fields.len) },
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp)
        return .message(try body(view))
    }

    /// Commits `offsets` (next offset to read per partition) and waits for the broker.
    func commit(_ offsets: [KafkaTopicPartition: Int64]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        try Self.check(rd_kafka_commit(handle.raw, list.pointer, 0), .commit, "commit offsets \(Self.describe(offsets))")
    }

    /// Sends a commit and returns at once; the result is logged when a later poll serves it.
    func commitAsync(_ offsets: [KafkaTopicPartition: Int64]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        guard let queue = rd_kafka_queue_get_consumer(handle.raw) else {
            throw KafkaError(.commit, "the client has no consumer queue", remedy: "Commit from a consumer")
        }
        defer { rd_kafka_queue_destroy(queue) }
        let opaque = Unmanaged.passUnretained(context).toOpaque()
        try Self.check(
            rd_kafka_commit_queue(handle.raw, list.pointer, queue, rdkafkaCommitCallback, opaque),
            .commit, "commit offsets \(Self.describe(offsets))")
    }

    /// The group's committed offsets (next offset to read) of `partitions`; partitions without
    /// a committed offset are left out.
    func committed(_ partitions: [KafkaTopicPartition], timeout: Duration) throws(KafkaError) -> [KafkaTopicPartition: Int64] {
        let list = RDKafkaTopicPartitionList(partitions)
        try Self.check(
            rd_kafka_committed(handle.raw, list.pointer, timeout.milliseconds), .committedOffsets,
            "read committed offsets")
        try Self.checkPartitions(list, .committedOffsets, "read committed offsets")
        return list.offsets
    }

    func seek(_ offsets: [KafkaTopicPartition: Int64], timeout: Duration) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(offsets: offsets)
        try Self.check(rd_kafka_seek_partitions(handle.raw, list.pointer, timeout.milliseconds), .seek, "seek")
        try Self.checkPartitions(list, .seek, "seek")
    }

    func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(partitions)
        try Self.check(rd_kafka_pause_partitions(handle.raw, list.pointer), .pauseResume, "pause \(partitions)")
        try Self.checkPartitions(list, .pauseResume, "pause")
    }

    func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(partitions)
        try Self.check(rd_kafka_resume_partitions(handle.raw, list.pointer), .pauseResume, "resume \(partitions)")
        try Self.checkPartitions(list, .pauseResume, "resume")
    }

    func assignment() throws(KafkaError) -> [KafkaTopicPartition] {
        var pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        try Self.check(rd_kafka_assignment(handle.raw, &pointer), .assignment, "read the assignment")
        guard let pointer else { return [] }
        return RDKafkaTopicPartitionList(taking: pointer).partitions
    }

    /// Leaves the group: the final revocation runs through the rebalance callback on this thread.
    func consumerClose() throws(KafkaError) {
        // Decide before leaving the group, while the group state can still be asked for.
        if destroyWouldAbort { leakOnDeinit.store(true, ordering: .releasing) }
        defer { consumerClosed.store(true, ordering: .releasing) }
        try Self.check(rd_kafka_consumer_close(handle.raw), .close, "leave the consumer group")
    }

    // MARK: Producer

    /// Enqueues one message (key and value are copied). Blocks, serving delivery reports,
    /// while librdkafka's local queue is full.
    ///
    /// - Throws: ``KafkaError/Code/produce`` when librdkafka refuses the message.
    func produce(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, messageID: UInt64
    ) throws(KafkaError) {
        // librdkafka tells a null value from an empty one by the pointer, and an empty Swift
        // buffer may have no base address: point empty keys and values at a valid byte.
        var placeholder: UInt8 = 0
        let failure: (name: String, message: String)? = withUnsafeMutablePointer(to: &placeholder) { empty in
            topic.withCString { topicName in
                withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 6) { fields in
                    var count = 0
                    func append(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                        var field = rd_kafka_vu_t()
                        field.vtype = type
                        fill(&field)
                        fields.initializeElement(at: count, to: field)
                        count += 1
                    }
                    func bytes(_ buffer: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer {
                        buffer.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) } ?? UnsafeMutableRawPointer(empty)
                    }
                    append(RD_KAFKA_VTYPE_TOPIC) { $0.u.cstr = topicName }
                    append(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition ?? Self.unassignedPartition }
                    append(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                    append(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(messageID)) }
                    if let key {
                        append(RD_KAFKA_VTYPE_KEY) {
                            $0.u.mem.ptr = bytes(key)
                            $0.u.mem.size = key.count
                        }
                    }
                    if let value {
                        append(RD_KAFKA_VTYPE_VALUE) {
                            $0.u.mem.ptr = bytes(value)
                            $0.u.mem.size = value.count
                        }
                    }
                    defer { fields.baseAddress!.deinitialize(count: count) }
                    while true {
                        guard let error = rd_kafka_produceva(handle.raw, fields.baseAddress, count) else { return nil }
                        defer { rd_kafka_error_destroy(error) }
                        let code = rd_kafka_error_code(error)
                        if code == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                            rd_kafka_poll(handle.raw, 10)
                            continue
                        }
                        return (Self.errorName(code), String(cString: rd_kafka_error_string(error)))
                    }
                }
            }
        }
        if let failure {
            throw KafkaError(
                .produce, "librdkafka refused a message for topic \(topic): \(failure.message)",
                remedy: "Check the topic, partition and message size (message.max.bytes)",
                librdkafkaError: failure.name)
        }
    }

    /// Serves queued callbacks (delivery reports, statistics, errors) for up to `timeout`.
    @discardableResult
    func poll(timeout: Duration) -> Int {
        Int(rd_kafka_poll(handle.raw, timeout.milliseconds))
    }

    /// Waits until every enqueued message is delivered or failed, serving delivery reports.
    /// - Returns: `false` when messages remain after `timeout`.
    func flush(timeout: Duration) -> Bool {
        rd_kafka_flush(handle.raw, timeout.milliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    // MARK: Helpers

    static let unassignedPartition: Int32 = -1

    static func errorName(_ error: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2name(error))
    }

    static func errorMessage(_ error: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2str(error))
    }

    static func describe(_ offsets: [KafkaTopicPartition: Int64]) -> String {
        offsets.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: ",")
    }

    static func check(
        _ error: rd_kafka_resp_err_t, _ code: KafkaError.Code, _ action: String, file: String = #fileID, line: Int = #line
    ) throws(KafkaError) {
        guard error != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        throw KafkaError(
            code, "could not \(action): \(errorMessage(error))", remedy: remedy(for: error),
            librdkafkaError: errorName(error), file: file, line: line)
    }

    /// Checks and destroys an `rd_kafka_error_t *` (nil means success).
    static func check(
        _ error: OpaquePointer?, _ code: KafkaError.Code, _ action: String, file: String = #fileID, line: Int = #line
    ) throws(KafkaError) {
        guard let error else { return }
        defer { rd_kafka_error_destroy(error) }
        let errorCode = rd_kafka_error_code(error)
        throw KafkaError(
            code, "could not \(action): \(String(cString: rd_kafka_error_string(error)))",
            remedy: remedy(for: errorCode), librdkafkaError: errorName(errorCode), file: file, line: line)
    }

    /// Throws for the first partition whose per-partition error librdkafka set.
    static func checkPartitions(
        _ list: RDKafkaTopicPartitionList, _ code: KafkaError.Code, _ action: String,
        file: String = #fileID, line: Int = #line
    ) throws(KafkaError) {
        guard let first = list.partitionErrors.first else { return }
        throw KafkaError(
            code, "could not \(action) \(first.partition): \(first.message)",
            remedy: "Check that the partition is assigned to this consumer and exists",
            librdkafkaError: first.name, file: file, line: line)
    }

    private static func remedy(for error: rd_kafka_resp_err_t) -> String {
        switch error {
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
             RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            return "The brokers are unreachable or busy; check connectivity and retry"
        case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
             RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
            return "The group rebalanced; the partitions may now belong to another member: keep polling and retry after the next assignment"
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
            return "Create the topic or fix its name"
        case RD_KAFKA_RESP_ERR__STATE:
            return "The client is not in a state that allows this (not assigned, or closing)"
        case RD_KAFKA_RESP_ERR__NO_OFFSET:
            return "There was nothing to commit"
        default:
            return "See librdkafka's error name for details"
        }
    }
}
