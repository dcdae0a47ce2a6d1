/// A message read by ``KafkaConsumer``, with its key and value copied into Swift arrays.
public struct KafkaConsumerMessage: Sendable, Hashable {
    /// The topic the message was read from.
    public var topic: String
    /// The partition the message was read from.
    public var partition: Int32
    /// The message's offset in its partition. To resume after this message, commit
    /// `offset + 1` (see ``KafkaConsumer/commit(_:)``).
    public var offset: Int64
    /// The key, or `nil` when the message has none.
    public var key: [UInt8]?
    /// The value, or `nil` for a tombstone (a deletion marker on a compacted topic).
    /// An empty value is `[]`, not `nil`.
    public var value: [UInt8]?
    /// The message timestamp in milliseconds since 1970 (create or log-append time), or
    /// `nil` when the broker gave none.
    public var timestampMilliseconds: Int64?

    public init(
        topic: String, partition: Int32, offset: Int64,
        key: [UInt8]?, value: [UInt8]?, timestampMilliseconds: Int64?
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// Copies a borrowed message.
    public init(_ view: borrowing KafkaMessageView) {
        self.init(
            topic: view.topic, partition: view.partition, offset: view.offset,
            key: view.key.map { Array($0) }, value: view.value.map { Array($0) },
            timestampMilliseconds: view.timestampMilliseconds)
    }

    /// The message's topic and partition.
    public var topicPartition: KafkaTopicPartition {
        KafkaTopicPartition(topic: topic, partition: partition)
    }

    /// Whether the message is a tombstone (its value is null).
    public var isTombstone: Bool { value == nil }
}

/// A message borrowed from librdkafka for the duration of one
/// ``KafkaConsumer/poll(timeout:_:)`` body: no copy of key or value.
///
/// The buffers point into librdkafka's memory and are valid only inside the body; copy
/// what must outlive it (``KafkaConsumerMessage/init(_:)`` copies everything).
public struct KafkaMessageView: ~Copyable {
    /// The topic the message was read from.
    public let topic: String
    /// The partition the message was read from.
    public let partition: Int32
    /// The message's offset in its partition (commit `offset + 1` to resume after it).
    public let offset: Int64
    /// The key bytes, or `nil` when the message has none.
    public let key: UnsafeRawBufferPointer?
    /// The value bytes, or `nil` for a tombstone.
    public let value: UnsafeRawBufferPointer?
    /// The message timestamp in milliseconds since 1970, or `nil`.
    public let timestampMilliseconds: Int64?

    init(
        topic: String, partition: Int32, offset: Int64,
        key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, timestampMilliseconds: Int64?
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.timestampMilliseconds = timestampMilliseconds
    }

    /// The message's topic and partition.
    public var topicPartition: KafkaTopicPartition {
        KafkaTopicPartition(topic: topic, partition: partition)
    }
}
