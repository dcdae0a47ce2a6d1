import HSNNSupport
/// Configuration of a ``KafkaConsumer``: a consumer-group member whose offsets the
/// application manages.
///
/// Typed fields cover what the bridge needs; ``properties`` passes any other librdkafka
/// property through unchanged (`security.protocol`, `sasl.*`, `ssl.*`,
/// `partition.assignment.strategy`, `session.timeout.ms`, ...). librdkafka validates every
/// property when the consumer is created; a rejected one throws
/// ``KafkaError/Code/invalidConfiguration`` naming it.
///
/// Always set, whatever ``properties`` say: `enable.auto.commit=false` and
/// `enable.auto.offset.store=false` (offsets are committed only through
/// ``KafkaConsumer/commit(_:)``).
public struct KafkaConsumerConfiguration: Sendable {
    /// Where offsets start when the group has no committed offset for a partition.
    public enum AutoOffsetReset: String, Sendable {
        /// Read from the oldest message present.
        case earliest
        /// Read only messages produced after the assignment.
        case latest
        /// Fail the partition (`poll` logs the error and reads nothing from it).
        case error
    }

    /// Comma-separated `host:port` list used to discover the cluster (`bootstrap.servers`).
    public var bootstrapServers: String
    /// The consumer group (`group.id`).
    public var groupID: String
    /// Client name shown in broker logs and librdkafka's log lines (`client.id`).
    public var clientID: String
    /// Where to start without a committed offset (`auto.offset.reset`).
    public var autoOffsetReset: AutoOffsetReset
    /// Upper bound of librdkafka's prefetch queue in KiB (`queued.max.messages.kbytes`),
    /// shared by all assigned partitions.
    ///
    /// librdkafka fetches ahead of `poll` regardless of how fast the application consumes;
    /// this bounds that memory (one fetch response, at least `message.max.bytes` = 1 MB by
    /// default, can come on top). Size it to at least one second of consumption:
    /// librdkafka 2.0.2 stops fetching for one second whenever the bound is reached, so a
    /// smaller queue runs dry and caps throughput near `maxPrefetchKilobytes` per second.
    /// The message-count threshold (`queued.min.messages`, which stalls the same way) is
    /// raised to its maximum so that this byte bound governs, unless ``properties`` set it.
    public var maxPrefetchKilobytes: Int
    /// How often librdkafka emits statistics (`statistics.interval.ms`); `nil` disables them
    /// and ``KafkaConsumer/statistics`` stays `nil`.
    public var statisticsInterval: Duration?
    /// Any other librdkafka property, passed through as is. A property that a typed field
    /// sets is rejected here: set the field instead.
    public var properties: [String: String]
    /// Whether ``KafkaConsumer/takePartitionEnds()`` reports partitions whose end was reached
    /// (`enable.partition.eof`).
    public var reportsPartitionEnd = false

    /// Creates a consumer configuration.
    ///
    /// - Parameters:
    ///   - bootstrapServers: Comma-separated `host:port` list.
    ///   - groupID: The consumer group to join.
    ///   - clientID: Client name for logs.
    ///   - properties: Further librdkafka properties, passed through unchanged.
    public init(
        bootstrapServers: String,
        groupID: String,
        clientID: String = "hsnn",
        autoOffsetReset: AutoOffsetReset = .earliest,
        maxPrefetchKilobytes: Int = 32768,
        statisticsInterval: Duration? = nil,
        properties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.clientID = clientID
        self.autoOffsetReset = autoOffsetReset
        self.maxPrefetchKilobytes = maxPrefetchKilobytes
        self.statisticsInterval = statisticsInterval
        self.properties = properties
    }

    /// Hands every property to librdkafka's configuration (`rd_kafka_conf_set`) as creating the
    /// consumer would, without creating a client or connecting to anything.
    /// - Throws: ``KafkaError/Code/invalidConfiguration`` naming the first property librdkafka
    ///   (or the bridge) rejects, with the reason.
    public func validate() throws(KafkaError) {
        _ = try RDKafkaConfig(properties: librdkafkaProperties())
    }

    /// The librdkafka properties in the order they are applied.
    func librdkafkaProperties() throws(KafkaError) -> [(name: String, value: String)] {
        var typed: [(name: String, value: String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("group.id", groupID),
            ("client.id", clientID),
            ("auto.offset.reset", autoOffsetReset.rawValue),
            ("queued.max.messages.kbytes", String(maxPrefetchKilobytes)),
        ]
        if properties["queued.min.messages"] == nil {
            typed.append(("queued.min.messages", "10000000"))
        }
        if let statisticsInterval {
            typed.append(("statistics.interval.ms", String(statisticsInterval.milliseconds)))
        }
        if reportsPartitionEnd {
            typed.append(("enable.partition.eof", "true"))
        }
        let managed = ["enable.auto.commit", "enable.auto.offset.store"]
        for name in managed {
            if let value = properties[name], value.lowercased() != "false" {
                throw KafkaError.invalidProperty(
                    name, reason: "must be false: offsets are committed only through KafkaConsumer.commit")
            }
        }
        try rejectDuplicates(
            properties: properties,
            fields: [
                "bootstrap.servers": "bootstrapServers", "group.id": "groupID", "client.id": "clientID",
                "auto.offset.reset": "autoOffsetReset", "queued.max.messages.kbytes": "maxPrefetchKilobytes",
                "statistics.interval.ms": "statisticsInterval",
            ].merging(reportsPartitionEnd ? ["enable.partition.eof": "reportsPartitionEnd"] : [:]) { a, _ in a })
        return typed
            + properties.sorted { $0.key < $1.key }.filter { !managed.contains($0.key) }.map { ($0.key, $0.value) }
            + managed.map { ($0, "false") }
    }
}

/// Configuration of a ``KafkaProducer``.
///
/// librdkafka's defaults apply (`acks=all`, `linger.ms=5`, ...) unless ``properties``
/// override them; any librdkafka producer property passes through.
public struct KafkaProducerConfiguration: Sendable {
    /// Comma-separated `host:port` list used to discover the cluster (`bootstrap.servers`).
    public var bootstrapServers: String
    /// Client name shown in broker logs and librdkafka's log lines (`client.id`).
    public var clientID: String
    /// Any other librdkafka property, passed through as is (a property that a typed field
    /// sets is rejected here: set the field instead).
    public var properties: [String: String]

    /// Creates a producer configuration.
    ///
    /// - Parameters:
    ///   - bootstrapServers: Comma-separated `host:port` list.
    ///   - clientID: Client name for logs.
    ///   - properties: Further librdkafka properties, passed through unchanged.
    public init(bootstrapServers: String, clientID: String = "hsnn-producer", properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
    }

    /// Hands every property to librdkafka's configuration (`rd_kafka_conf_set`) as creating the
    /// producer would, without creating a client or connecting to anything.
    /// - Throws: ``KafkaError/Code/invalidConfiguration`` naming the first property rejected.
    public func validate() throws(KafkaError) {
        _ = try RDKafkaConfig(properties: librdkafkaProperties())
    }

    /// The librdkafka properties in the order they are applied.
    func librdkafkaProperties() throws(KafkaError) -> [(name: String, value: String)] {
        let typed: [(name: String, value: String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
        ]
        try rejectDuplicates(
            properties: properties,
            fields: ["bootstrap.servers": "bootstrapServers", "client.id": "clientID"])
        return typed + properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

private func rejectDuplicates(properties: [String: String], fields: [String: String]) throws(KafkaError) {
    for (name, field) in fields.sorted(by: { $0.key < $1.key }) where properties[name] != nil {
        throw KafkaError.invalidProperty(name, reason: "is set by the configuration field `\(field)`; set it there")
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, clamped to `Int32` (librdkafka's timeout type).
    var milliseconds: Int32 { Int32(clamping: max(0, inMilliseconds)) }
}
