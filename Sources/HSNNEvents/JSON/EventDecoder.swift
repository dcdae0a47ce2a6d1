#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decodes hsnn JSON messages (one Kafka message or one file line) into ``Event``s.
///
/// The decoder is a single-pass byte-level parser: it validates UTF-8 and the full JSON
/// grammar, checks the event schema and the ``DecoderLimits``, and allocates only the Strings
/// and arrays of the resulting event. Strings of up to 15 UTF-8 bytes (typical feature names and
/// values, numeric ids) are stored inline by Swift, so they allocate nothing and need no interning;
/// a typical impression costs one allocation for its features plus one per longer identifier.
/// It is a value type with no mutable state, safe to share between threads.
///
/// Schema rules beyond the field list of the README:
/// - identifiers (`item_id`, `event_id`, `request_id`, `user_id`) are non-empty JSON strings or
///   plain JSON integers (no fraction or exponent), carried as their decimal text;
/// - `ts_ms` is a non-negative integer, at most ``DecoderLimits/maxFutureSkewMs`` ahead of the clock;
/// - `request_id` is optional on impressions and clicks; when absent (or `null`) it defaults to
///   the event's own `event_id`, so such events only join through the (user_id, item_id) fallback;
/// - `clicked`, `user_features` and an item's `features` are optional (`null` means absent);
///   a delete's `features` are validated and dropped;
/// - feature values are strings, lists of strings or finite numbers; a `null` value drops the feature;
/// - keys outside the schema are skipped (after validation), whatever they contain; schema keys
///   are validated whichever `type` the event has, and may appear only once.
public struct EventDecoder: Sendable {
    /// The bounds every message must respect.
    public var limits: DecoderLimits
    /// The wall clock in milliseconds since the Unix epoch, for the future-timestamp check.
    public var clock: @Sendable () -> Int64

    /// - Parameters:
    ///   - limits: bounds on message size and contents.
    ///   - clock: milliseconds since the Unix epoch; read once per message when
    ///     ``DecoderLimits/maxFutureSkewMs`` is set (inject a fixed clock in tests).
    public init(limits: DecoderLimits = DecoderLimits(),
                clock: @escaping @Sendable () -> Int64 = EventDecoder.systemClockMilliseconds) {
        self.limits = limits
        self.clock = clock
    }

    /// The system's real-time clock in milliseconds since the Unix epoch.
    ///
    /// On Linux this reads the coarse real-time clock (a few milliseconds of resolution, several
    /// times cheaper than the precise one), which is ample for a future-skew check.
    @Sendable public static func systemClockMilliseconds() -> Int64 {
        var now = timespec()
        #if os(Linux)
        clock_gettime(CLOCK_REALTIME_COARSE, &now)
        #else
        clock_gettime(CLOCK_REALTIME, &now)
        #endif
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    // MARK: Events

    /// Decodes one message.
    /// - Parameter message: the message bytes (UTF-8 JSON, no framing).
    /// - Throws: ``DecodeFailure`` saying why the message is not a valid event.
    public func decode(_ message: UnsafeRawBufferPointer) throws(DecodeFailure) -> Event {
        try decode(message, nowMs: limits.maxFutureSkewMs == nil ? 0 : clock())
    }

    /// Decodes one message, judging future timestamps against `nowMs` instead of ``clock``.
    /// - Throws: ``DecodeFailure`` saying why the message is not a valid event.
    public func decode(_ message: UnsafeRawBufferPointer, nowMs: Int64) throws(DecodeFailure) -> Event {
        let fields = try parse(message, mode: .event)
        return try assembleEvent(fields, nowMs: nowMs)
    }

    /// Decodes one message held in an array.
    /// - Throws: ``DecodeFailure`` saying why the message is not a valid event.
    public func decode(_ message: [UInt8]) throws(DecodeFailure) -> Event {
        try message.withUnsafeBytes { decodeResult($0) }.get()
    }

    /// Decodes one line of text (without its line terminator).
    /// - Throws: ``DecodeFailure`` saying why the line is not a valid event.
    public func decode(_ line: Substring) throws(DecodeFailure) -> Event {
        if let result = line.utf8.withContiguousStorageIfAvailable({ decodeResult(UnsafeRawBufferPointer($0)) }) {
            return try result.get()
        }
        return try decode(Array(line.utf8))
    }

    /// Decodes one line of text (without its line terminator).
    /// - Throws: ``DecodeFailure`` saying why the line is not a valid event.
    public func decode(_ line: String) throws(DecodeFailure) -> Event {
        try decode(line[...])
    }

    /// Decodes one message into a `Result` (convenient with closure-based buffer access).
    public func decodeResult(_ message: UnsafeRawBufferPointer) -> Result<Event, DecodeFailure> {
        do {
            return .success(try decode(message))
        } catch {
            return .failure(error)
        }
    }

    // MARK: User queries

    /// Decodes one `{"user_id":"7","user_features":{...}}` line; other keys are skipped, so
    /// impression lines are accepted too.
    /// - Throws: ``DecodeFailure`` saying why the message is not a valid query.
    public func decodeUserQuery(_ message: UnsafeRawBufferPointer) throws(DecodeFailure) -> UserQuery {
        let fields = try parse(message, mode: .userQuery)
        guard let userID = fields.userID else { throw missing(.userID) }
        return UserQuery(userID: userID, userFeatures: fields.userFeatures ?? Features())
    }

    /// Decodes one user query line (without its line terminator).
    /// - Throws: ``DecodeFailure`` saying why the line is not a valid query.
    public func decodeUserQuery(_ line: Substring) throws(DecodeFailure) -> UserQuery {
        let result = line.utf8.withContiguousStorageIfAvailable { buffer in
            Result { () throws(DecodeFailure) in try decodeUserQuery(UnsafeRawBufferPointer(buffer)) }
        } ?? Array(line.utf8).withUnsafeBytes { buffer in
            Result { () throws(DecodeFailure) in try decodeUserQuery(buffer) }
        }
        return try result.get()
    }

    // MARK: Internals

    private func parse(_ message: UnsafeRawBufferPointer, mode: MessageMode) throws(DecodeFailure) -> ParsedFields {
        let count = message.count
        guard count > 0, let base = message.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw DecodeFailure(reason: .empty, message: "the message is empty")
        }
        guard count <= limits.maxMessageBytes else {
            throw DecodeFailure(reason: .tooLarge,
                                message: "the message has \(count) bytes, more than the limit of \(limits.maxMessageBytes)")
        }
        if let offset = firstInvalidUTF8Offset(base, count: count) {
            throw DecodeFailure(reason: .invalidUTF8, message: "the message is not valid UTF-8 (\(describeByte(base[offset])))",
                                byteOffset: offset)
        }
        var parser = MessageParser(base: base, count: count, limits: limits)
        return try parser.parseMessage(mode: mode)
    }

    private func missing(_ key: SchemaKey, for kind: String? = nil) -> DecodeFailure {
        DecodeFailure(reason: .missingField, field: key.jsonName,
                      message: "required field '\(key.jsonName)' is missing" + (kind.map { " from the \($0) event" } ?? ""))
    }

    private func assembleEvent(_ fields: consuming ParsedFields, nowMs: Int64) throws(DecodeFailure) -> Event {
        guard let kind = fields.kind else { throw missing(.type) }
        let event: Event
        switch kind {
        case .item:
            guard let op = fields.op else { throw missing(.op, for: "item") }
            guard let itemID = fields.itemID else { throw missing(.itemID, for: "item") }
            guard let ts = fields.timestampMs else { throw missing(.timestampMs, for: "item") }
            event = .item(ItemEvent(op: op, itemID: itemID, timestampMs: ts,
                                    features: op == .upsert ? fields.features ?? Features() : Features()))
        case .impression:
            guard let eventID = fields.eventID else { throw missing(.eventID, for: "impression") }
            guard let ts = fields.timestampMs else { throw missing(.timestampMs, for: "impression") }
            guard let userID = fields.userID else { throw missing(.userID, for: "impression") }
            guard let itemID = fields.itemID else { throw missing(.itemID, for: "impression") }
            event = .impression(ImpressionEvent(
                eventID: eventID, requestID: fields.requestID ?? eventID, timestampMs: ts, userID: userID,
                itemID: itemID, userFeatures: fields.userFeatures ?? Features(), clicked: fields.clicked))
        case .click:
            guard let eventID = fields.eventID else { throw missing(.eventID, for: "click") }
            guard let ts = fields.timestampMs else { throw missing(.timestampMs, for: "click") }
            guard let userID = fields.userID else { throw missing(.userID, for: "click") }
            guard let itemID = fields.itemID else { throw missing(.itemID, for: "click") }
            event = .click(ClickEvent(eventID: eventID, requestID: fields.requestID ?? eventID, timestampMs: ts,
                                      userID: userID, itemID: itemID))
        }
        if let skew = limits.maxFutureSkewMs {
            let ts = event.timestampMs
            let (latest, overflow) = nowMs.addingReportingOverflow(max(skew, 0))
            if !overflow && ts > latest {
                throw DecodeFailure(reason: .futureTimestamp, field: "ts_ms",
                                    message: "'ts_ms' \(ts) is \(ts - nowMs) ms ahead of the clock (limit \(skew) ms)")
            }
        }
        return event
    }
}
