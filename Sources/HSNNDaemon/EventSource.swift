import HSNNStream

/// One record read from the event stream, before decoding.
public struct SourceRecord: Sendable {
    public var partition: StreamPartition
    public var offset: Int64
    /// The message key (the item id on the catalog topic), if any.
    public var key: [UInt8]?
    /// The message value; `nil` is a tombstone.
    public var value: [UInt8]?
    /// The broker timestamp in ms since the epoch (used for tombstones, which carry no body).
    public var timestampMs: Int64

    public init(partition: StreamPartition, offset: Int64, key: [UInt8]?, value: [UInt8]?, timestampMs: Int64) {
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.timestampMs = timestampMs
    }
}

/// Partition ownership changes announced by the source, called on the polling thread.
public protocol SourceRebalanceDelegate: AnyObject, Sendable {
    /// `partitions` are being taken away: finish with them and return the offsets to
    /// commit (the next offset the state reflects for each).
    func partitionsRevoked(_ partitions: [StreamPartition]) -> [StreamPartition: Int64]
    /// `partitions` were assigned; returns the offsets to start from, given the ones
    /// committed in the group (absent: the group's committed offset or the reset policy).
    func partitionsAssigned(_ partitions: [StreamPartition], committed: [StreamPartition: Int64]) -> [StreamPartition: Int64]
}

/// The stream the daemon consumes: a Kafka consumer-group member in production.
///
/// Every method is called from the one polling thread, except ``commit(_:)``, which
/// may be called from any thread.
public protocol EventSource: AnyObject, Sendable {
    /// Waits up to `timeoutMs` for the next record; rebalance callbacks run inside.
    func poll(timeoutMs: Int) throws -> SourceRecord?
    /// Commits `offsets` (next offset to read, per partition) to the group.
    func commit(_ offsets: [StreamPartition: Int64]) throws
    /// Stops fetching from `partitions` until ``resume(_:)``.
    func pause(_ partitions: [StreamPartition])
    func resume(_ partitions: [StreamPartition])
    /// The partitions currently assigned to this member.
    func assignment() -> [StreamPartition]
    /// Leaves the group (revoking the assignment through the delegate) and releases the client.
    func close()
}
