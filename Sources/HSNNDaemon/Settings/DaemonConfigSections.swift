import HSNNOps

extension ConfigSection {
    /// Kafka connection, topics and consumer tuning.
    public static let kafka = ConfigSection("kafka", doc: """
        Where events and item catalog updates come from. The consumer stores no offsets by itself: \
        the offsets the model state reflects are recorded in checkpoints and committed after each publish.
        """, keys: [
        ConfigKey("kafka.brokers", .string, default: .string("embedded"), doc: """
            Bootstrap servers as `host:port[,host:port...]`, or `embedded` to start librdkafka's mock \
            cluster in-process on 127.0.0.1 (its address is logged).
            """, constraints: [.nonEmpty]),
        ConfigKey("kafka.group_id", .string, default: .string("hsnn"),
                  doc: "Consumer group; daemons sharing it split the partitions between them.",
                  constraints: [.nonEmpty]),
        ConfigKey("kafka.events_topic", .string, default: .string("hsnn.events"),
                  doc: "Topic of impression and click events.", constraints: [.nonEmpty]),
        ConfigKey("kafka.items_topic", .string, default: .string("hsnn.items"), doc: """
            Log-compacted item catalog topic keyed by item id; a null value (tombstone) deletes the item.
            """, constraints: [.nonEmpty]),
        ConfigKey("kafka.dead_letter_topic", .string, default: .string(""), doc: """
            Topic that receives a copy of each malformed message with the reason; empty turns it off.
            """),
        ConfigKey("kafka.properties", .stringMap, default: .stringMap([:]), doc: """
            librdkafka properties of the consumer, passed through unchanged (security.protocol, sasl.*, ssl.*, \
            client.id, session.timeout.ms, ...). Those that apply to any client (connection, security; `*` in \
            librdkafka's CONFIGURATION.md) are also given to the dead-letter producer; consumer-only ones are not. \
            The daemon sets the properties its offset handling depends on (such as enable.auto.offset.store) itself.
            """),
        ConfigKey("kafka.producer_properties", .stringMap, default: .stringMap([:]), doc: """
            librdkafka properties of the dead-letter producer (linger.ms, message.max.bytes, compression.type, \
            ...), applied over the entries of `kafka.properties` it shares with the consumer. Checked at start \
            like `kafka.properties`; a consumer-only property here is refused. `client.id` defaults to the \
            consumer's with `-dead-letter` appended.
            """),
        ConfigKey("kafka.queued_max_messages_kbytes", .int, default: .int(16_384), doc: """
            Most kilobytes librdkafka prefetches per partition queue; bounds memory when training falls behind.
            """, constraints: [.range(1...2_097_151)]),
        ConfigKey("kafka.poll_timeout_ms", .milliseconds, default: .duration(.milliseconds(100)), doc: """
            Longest a poll waits for messages before the poller checks for shutdown and backpressure.
            """, constraints: [.range(Duration.milliseconds(1)...Duration.seconds(10))]),
        ConfigKey("kafka.on_data_loss", .string, default: .string("continue"), doc: """
            What happens when a partition's next record is not the one the model state expects, because the \
            broker no longer holds it (retention deleted it, and librdkafka reset the position): the skipped \
            range is logged as an error and counted in `hsnn_ingest_records_lost_total{topic,partition}` either \
            way; `continue` trains on from the oldest record still held, `fail` stops the daemon (exit 1) so \
            that an operator decides.
            """, constraints: [.oneOf(["continue", "fail"])]),
        ConfigKey("kafka.liveness_timeout_ms", .milliseconds, default: .duration(.seconds(10)), doc: """
            `/readyz` answers 503 when no broker connection received anything for this long (a broker that \
            is down or frozen); librdkafka's fetch requests get an answer at least every `fetch.wait.max.ms` \
            (500 ms by default) from a live broker.
            """, constraints: [.range(Duration.seconds(1)...Duration.seconds(600))]),
    ])

    /// Decoding limits and the queue between the Kafka poller and the trainer.
    public static let ingest = ConfigSection("ingest", doc: """
        Decoding and the bounded queue between the Kafka poller and the trainer. Malformed messages are \
        counted by reason, logged with rate limiting and skipped.
        """, keys: [
        ConfigKey("ingest.queue_capacity", .int, default: .int(65_536), doc: """
            Decoded events held between poller and trainer. When it is full the poller waits for the trainer \
            to take a chunk (librdkafka keeps prefetching up to `kafka.queued_max_messages_kbytes` meanwhile).
            """, constraints: [.range(1...16_777_216)]),
        ConfigKey("ingest.pause_after_ms", .milliseconds, default: .duration(.seconds(3)), doc: """
            How long the trainer may take nothing from a full queue before the poller pauses every assigned \
            partition and goes back to polling; they resume once the queue is half empty. Pausing drops what \
            librdkafka prefetched for them, so it is kept for real stalls. While the poller waits, rebalance \
            callbacks wait too: a rebalance is delayed by at most this long. At most half of \
            `max.poll.interval.ms` (in `kafka.properties`, librdkafka's default 300000).
            """, constraints: [.range(Duration.milliseconds(10)...Duration.seconds(600))]),
        ConfigKey("ingest.max_ahead_of_catalog_ms", .milliseconds, default: .duration(.seconds(300)), doc: """
            Catalog first: while a catalog partition still holds unread records, an events partition whose \
            event time is more than this ahead of it is paused until the catalog catches up or reaches its end, \
            so impressions do not train items whose upsert has not been read yet. 0 turns it off.
            """),
        ConfigKey("ingest.max_message_bytes", .int, default: .int(65_536),
                  doc: "Messages larger than this are rejected as malformed (`too_large`).",
                  constraints: [.range(64...67_108_864)]),
        ConfigKey("ingest.max_future_ms", .milliseconds, default: .duration(.seconds(300)), doc: """
            Events timestamped further than this ahead of the wall clock are rejected as malformed (`future_timestamp`).
            """),
    ])

    /// The impression/click joiner.
    public static let joiner = ConfigSection("joiner", doc: """
        Impressions wait, in event time, for a click on the same (request_id, item_id), falling back to \
        (user_id, item_id); a click makes the example positive, the end of the window negative.
        """, keys: [
        ConfigKey("joiner.attribution_window_ms", .milliseconds, default: .duration(.seconds(600)),
                  doc: "How long, in event time, a click may follow its impression.",
                  constraints: [.atLeast(Duration.milliseconds(1))]),
        ConfigKey("joiner.max_pending", .int, default: .int(1_000_000),
                  doc: "Most unlabelled impressions held at once; beyond it `joiner.overflow_policy` applies.",
                  constraints: [.atLeast(1)]),
        ConfigKey("joiner.overflow_policy", .string, default: .string("negative"), doc: """
            What happens to the oldest pending impression when `joiner.max_pending` is reached: `negative` \
            trains it now as a negative example, `drop_oldest` discards it untrained. Both are counted as overflow.
            """, constraints: [.oneOf(["negative", "drop_oldest"])]),
        ConfigKey("joiner.max_partition_lag_ms", .milliseconds, default: .duration(.seconds(60)), doc: """
            A partition whose event time is this far behind the most advanced one stops holding the \
            watermark back, so a quiet partition does not delay expiry.
            """, constraints: [.atLeast(Duration.milliseconds(0))]),
        ConfigKey("joiner.dedupe_capacity", .int, default: .int(2_000_000),
                  doc: "Event ids remembered to drop duplicates (the oldest are forgotten first).",
                  constraints: [.atLeast(1)]),
    ])

    /// Mini-batch training.
    public static let training = ConfigSection("training", doc: """
        Joined examples are trained in mini-batches on a dedicated thread.
        """, keys: [
        ConfigKey("training.batch_size", .int, default: .int(256), doc: "Examples per mini-batch.",
                  constraints: [.range(1...65_536)]),
        ConfigKey("training.threads", .int, default: .int(0), doc: """
            Threads used by the math kernels (OpenBLAS); 0 uses one per available core.
            """, constraints: [.range(0...1024)]),
        ConfigKey("training.max_batch_delay", .milliseconds, default: .duration(.seconds(1)), doc: """
            A partial mini-batch is trained once its oldest example has waited this long and the consumer \
            has reached the end of every assigned partition with every record trained, so a quiet stream \
            leaves nothing untrained. A backlog (a restart catching up) is cut by size alone until its end, \
            so replaying the same records cuts the same batches; a cut made while waiting at the end of a \
            live stream is part of the next checkpoint. 0 turns it off (batches are cut by size alone).
            """, constraints: [.range(Duration.zero...Duration.seconds(3600))]),
    ])

    /// The item catalog.
    public static let items = ConfigSection("items", doc: "The item catalog kept in the index.", keys: [
        ConfigKey("items.ttl_ms", .milliseconds, default: .duration(.zero), doc: """
            An item not seen in the catalog stream or in events for this long, in event time, expires from \
            the index; 0 turns expiry off.
            """),
    ])

    /// Checkpoint publishing and retention.
    public static let checkpoint = ConfigSection("checkpoint", doc: """
        Versioned checkpoints are published by time and by trained events (whichever comes first) and on \
        shutdown; a restart resumes from the newest version that verifies.
        """, keys: [
        ConfigKey("checkpoint.dir", .string, default: .string("data/checkpoints"),
                  doc: "Directory holding one folder per version and the `LATEST` pointer.",
                  constraints: [.nonEmpty]),
        ConfigKey("checkpoint.every_seconds", .seconds, default: .duration(.seconds(300)),
                  doc: "Publish at least this often while training; 0 turns the time cadence off."),
        ConfigKey("checkpoint.every_events", .int, default: .int(1_000_000),
                  doc: "Publish after this many trained events; 0 turns the event cadence off.",
                  constraints: [.atLeast(0)]),
        ConfigKey("checkpoint.keep", .int, default: .int(5),
                  doc: "Versions kept besides pinned ones; the one `LATEST` names is never deleted.",
                  constraints: [.range(1...10_000)]),
        ConfigKey("checkpoint.file_mode", .fileMode, default: .int(0o640),
                  doc: "Permissions of checkpoint files.", constraints: [.permissionBits]),
        ConfigKey("checkpoint.dir_mode", .fileMode, default: .int(0o750),
                  doc: "Permissions of checkpoint folders.", constraints: [.permissionBits]),
        ConfigKey("checkpoint.retry_initial_ms", .milliseconds, default: .duration(.seconds(1)), doc: """
            After a failed publish (a full disk, say) the latest state is published again after this long, \
            then after twice as long each time up to `checkpoint.retry_max_ms`, whether or not events arrive. \
            Attempts are counted in `hsnn_checkpoint_publish_attempts_total`.
            """, constraints: [.range(Duration.milliseconds(10)...Duration.seconds(3600))]),
        ConfigKey("checkpoint.retry_max_ms", .milliseconds, default: .duration(.seconds(60)), doc: """
            Longest wait between publish retries.
            """, constraints: [.range(Duration.milliseconds(10)...Duration.seconds(86_400))]),
    ])

    /// Graceful shutdown.
    public static let shutdown = ConfigSection("shutdown", doc: """
        On SIGTERM or SIGINT the daemon stops consuming, finishes the batch in flight, publishes a \
        checkpoint and exits 0. A final checkpoint that cannot be written is retried with backoff for up to \
        60% of `shutdown.grace_seconds`; if it still fails the daemon exits 75, so that `Restart=on-failure` \
        and operators notice that the state since the previous version was not saved.
        """, keys: [
        ConfigKey("shutdown.grace_seconds", .seconds, default: .duration(.seconds(30)), doc: """
            Longest a graceful shutdown may take before remaining work is cancelled; keep it below systemd's \
            `TimeoutStopSec`.
            """, constraints: [.range(Duration.seconds(1)...Duration.seconds(3600))]),
    ])
}

extension ConfigSchema {
    /// The operational sections of the hsnn daemon, in documentation order; the daemon adds the
    /// model's sections with ``adding(_:)``.
    public static let hsnn = ConfigSchema(sections: [
        .kafka, .ingest, .joiner, .training, .items, .checkpoint, .http, .log, .shutdown,
    ])
}
