import HSNNCheckpoint
import HSNNPipeline

extension CheckpointPublisher {
    /// The manifest of the version that holds `snapshot`: the learner's configuration and
    /// statistics, the counters, the offsets and the snapshot pause.
    static func metadata(of snapshot: TrainerSnapshot) -> CheckpointMetadata {
        CheckpointMetadata(
            configuration: .object(snapshot.learner.configurationJSON.mapValues { .string($0) }),
            counters: snapshot.pipeline.allCounters.manifestCounters,
            offsets: snapshot.pipeline.nextOffsets.sorted { $0.key < $1.key }.map {
                CheckpointPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, nextOffset: $0.value)
            },
            indexStatistics: .object(snapshot.learner.statistics.mapValues { .double($0) }),
            metrics: .object(["snapshot_pause_seconds": .double(snapshot.pauseSeconds)]))
    }
}

extension FeedCounters {
    /// The counters a checkpoint's manifest records, by their manifest names.
    var manifestCounters: [String: CheckpointCounter] {
        let (c, j) = (pipeline, joiner)
        return [
            CheckpointManifest.eventsTrainedCounter: .int(c.examplesTrained),
            "events_processed": .int(c.events), "positives_trained": .int(c.positivesTrained),
            "batches": .int(c.batches), "item_upserts": .int(c.itemUpserts), "item_deletes": .int(c.itemDeletes),
            "records_skipped_malformed": .int(c.skippedMalformed),
            "joiner_impressions": .int(j.impressions), "joiner_clicks": .int(j.clicks),
            "joiner_duplicates": .int(j.duplicates), "joiner_unmatched_clicks": .int(j.unmatchedClicks),
            "joiner_overflow": .int(j.overflow), "joiner_pending": .int(Int64(j.pendingImpressions)),
        ]
    }
}
