/// One partition of one topic.
public struct KafkaTopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The topic name.
    public var topic: String
    /// The partition number, from 0.
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public static func < (lhs: KafkaTopicPartition, rhs: KafkaTopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }

    public var description: String { "\(topic)/\(partition)" }
}

/// Offsets with a special meaning, usable wherever the bridge takes a start offset
/// (``KafkaRebalanceHandler/partitionsAssigned(_:consumer:)``, ``KafkaConsumer/seek(_:timeout:)``).
///
/// Any other offset is an absolute position: the offset of the next message to read.
public enum KafkaOffset {
    /// The oldest message the broker still has.
    public static let beginning: Int64 = -2
    /// The next message produced after the seek (skip everything present now).
    public static let end: Int64 = -1
}
