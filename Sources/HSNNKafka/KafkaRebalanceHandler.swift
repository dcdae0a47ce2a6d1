/// Reacts to changes of a ``KafkaConsumer``'s partition assignment.
///
/// Both methods run synchronously on the thread that drives the consumer, inside
/// ``KafkaConsumer/poll(timeout:)`` (or ``KafkaConsumer/close()`` for the final revocation),
/// and the group's rebalance waits for them: keep them short, and do not poll from inside.
/// Calling ``KafkaConsumer/commit(_:)``, ``KafkaConsumer/committedOffsets(for:timeout:)`` or
/// ``KafkaConsumer/assignment()`` on the `consumer` argument is allowed.
///
/// Under the eager protocol every rebalance revokes the whole assignment, then assigns
/// the new one; under the cooperative protocol
/// (`partition.assignment.strategy=cooperative-sticky`) only the partitions that move are
/// revoked or assigned. Either way the handler sees exactly the partitions that change.
///
/// Commit regularly anyway (``KafkaConsumer/commitAsync(_:)`` after each unit of work): a
/// commit made while revoking can fail with `REBALANCE_IN_PROGRESS` (the mock cluster
/// refuses every commit during an eager rebalance), and what was not committed is then
/// read again by the next owner. The cooperative protocol revokes outside the rebalance
/// barrier, so its revocation commits go through.
public protocol KafkaRebalanceHandler: Sendable {
    /// Partitions were added to the assignment.
    ///
    /// - Returns: the offset to start each partition at (the next offset to read, or
    ///   ``KafkaOffset/beginning`` / ``KafkaOffset/end``). A partition left out starts at the
    ///   group's committed offset, or per `auto.offset.reset` when there is none. Offsets for
    ///   partitions not in `partitions` are ignored (and logged).
    func partitionsAssigned(_ partitions: [KafkaTopicPartition], consumer: KafkaConsumer) -> [KafkaTopicPartition: Int64]

    /// Partitions are about to be taken away: finish the work in flight for them and commit
    /// the offsets it reflects (``KafkaConsumer/commit(_:)``) before returning; after the
    /// return, their messages are no longer delivered and another member may read them.
    ///
    /// - Parameter lost: the partitions were already lost (session timeout, fenced): another
    ///   member may own them and a commit fails; drop the in-flight work instead of committing.
    func partitionsRevoked(_ partitions: [KafkaTopicPartition], lost: Bool, consumer: KafkaConsumer)
}

extension KafkaRebalanceHandler {
    /// Starts every partition at its committed offset.
    public func partitionsAssigned(_ partitions: [KafkaTopicPartition], consumer: KafkaConsumer) -> [KafkaTopicPartition: Int64] {
        [:]
    }

    /// Commits nothing.
    public func partitionsRevoked(_ partitions: [KafkaTopicPartition], lost: Bool, consumer: KafkaConsumer) {}
}
