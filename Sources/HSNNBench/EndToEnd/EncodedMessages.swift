import HSNNPipeline

/// The synthetic messages of the measured slice, back to back in one buffer, as the broker holds them.
struct EncodedMessages {
    var bytes: [UInt8] = []
    var ends: [Int] = []
    /// The partition each message's key hashes to (the catalog topic is partition 0 of its own topic).
    var partitions: [StreamPartition] = []

    var count: Int { ends.count }

    func forEach(_ body: (UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeBytes { all in
            var start = 0
            for i in 0..<ends.count {
                body(UnsafeRawBufferPointer(rebasing: all[start..<ends[i]]))
                start = ends[i]
            }
        }
    }
}
