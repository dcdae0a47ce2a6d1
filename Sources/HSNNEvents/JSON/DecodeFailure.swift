/// Why a message could not be decoded into an ``Event`` (or a ``UserQuery``).
///
/// `reason` is stable and machine-readable (its raw value is used as a metrics label);
/// `message` is for humans and names the offending field.
public struct DecodeFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The class of problem. Raw values are stable `snake_case` labels for metrics.
    ///
    /// When a message has several problems, the first one found wins, in this order:
    /// `empty`, `too_large`, `invalid_utf8`, then problems in the order they appear in the
    /// message (syntax, types, limits), then `missing_field`, and finally `future_timestamp`.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// The message has no bytes, or only whitespace.
        case empty
        /// The message is longer than ``DecoderLimits/maxMessageBytes``.
        case tooLarge = "too_large"
        /// The bytes are not valid UTF-8, or a `\u` escape is an unpaired surrogate.
        case invalidUTF8 = "invalid_utf8"
        /// The bytes are not JSON: syntax error, truncated input, or data after the object.
        case notJSON = "not_json"
        /// Arrays/objects nest deeper than ``DecoderLimits/maxNestingDepth``.
        case tooDeep = "too_deep"
        /// Valid JSON, but the top-level value is not an object.
        case notObject = "not_object"
        /// `type` is not `item`, `impression` or `click`.
        case unknownType = "unknown_type"
        /// An item event's `op` is not `upsert` or `delete`.
        case unknownOperation = "unknown_op"
        /// A required field is absent.
        case missingField = "missing_field"
        /// A schema field appears twice in the same object.
        case duplicateField = "duplicate_field"
        /// A field has the wrong JSON type (e.g. an array where an id is expected).
        case wrongType = "wrong_type"
        /// An identifier is the empty string.
        case invalidID = "invalid_id"
        /// `ts_ms` is negative, fractional, in exponent form, or beyond 64 bits.
        case invalidTimestamp = "invalid_timestamp"
        /// `NaN`/`Infinity` literals, or a number that overflows a Double (e.g. `1e999`).
        case nonFiniteNumber = "non_finite_number"
        /// `ts_ms` is further in the future than ``DecoderLimits/maxFutureSkewMs`` allows.
        case futureTimestamp = "future_timestamp"
        /// A features object has more than ``DecoderLimits/maxFeatures`` entries.
        case tooManyFeatures = "too_many_features"
        /// A feature list has more than ``DecoderLimits/maxValuesPerList`` values.
        case tooManyValues = "too_many_values"
        /// A string is longer than ``DecoderLimits/maxStringBytes`` UTF-8 bytes.
        case stringTooLong = "string_too_long"

        /// What an operator should do about messages failing for this reason.
        public var operatorHint: String {
            switch self {
            case .empty, .notJSON, .notObject, .invalidUTF8:
                "the producer is not writing hsnn JSON events to this input; fix the producer or the topic/file"
            case .tooLarge, .tooManyFeatures, .tooManyValues, .stringTooLong, .tooDeep:
                "shrink the producer's messages, or raise the matching decoder limit if such messages are legitimate"
            case .unknownType, .unknownOperation, .missingField, .duplicateField, .wrongType, .invalidID,
                 .invalidTimestamp, .nonFiniteNumber:
                "the producer writes events that do not follow the hsnn event schema; fix the producer"
            case .futureTimestamp:
                "check the producer's clock (ts_ms is in epoch milliseconds), or raise decoder.max_future_skew_ms"
            }
        }
    }

    /// The class of problem (stable, for metrics).
    public var reason: Reason
    /// The JSON field concerned, as a dotted path (`user_features.age`), when there is one.
    public var field: String?
    /// A human-readable explanation naming the field.
    public var message: String
    /// The byte offset in the message where the problem was found, when known.
    public var byteOffset: Int?

    public init(reason: Reason, field: String? = nil, message: String, byteOffset: Int? = nil) {
        self.reason = reason
        self.field = field
        self.message = message
        self.byteOffset = byteOffset
    }

    /// `reason: message (at byte N)`.
    public var description: String {
        if let byteOffset { return "\(reason.rawValue): \(message) (at byte \(byteOffset))" }
        return "\(reason.rawValue): \(message)"
    }
}

/// Bounds that keep a hostile or broken producer from exhausting memory or time.
///
/// Every limit is checked while parsing, so an oversized message costs at most one pass.
public struct DecoderLimits: Sendable, Hashable {
    /// Longest accepted message in bytes (default 64 KiB).
    public var maxMessageBytes: Int
    /// Most entries in one `features`/`user_features` object (default 256).
    public var maxFeatures: Int
    /// Most values in one list-valued feature (default 1024).
    public var maxValuesPerList: Int
    /// Longest accepted string (identifier, feature name or value), in UTF-8 bytes after
    /// unescaping (default 1024).
    public var maxStringBytes: Int
    /// Deepest accepted nesting of arrays/objects, the top-level object counting as 1
    /// (default 64; values above 256 are treated as 256 so skipping never exhausts the stack).
    public var maxNestingDepth: Int
    /// How far `ts_ms` may lie ahead of the decoder's clock, in milliseconds
    /// (default 24 hours); `nil` disables the check (e.g. for replaying synthetic files).
    public var maxFutureSkewMs: Int64?

    public init(
        maxMessageBytes: Int = 64 * 1024,
        maxFeatures: Int = 256,
        maxValuesPerList: Int = 1024,
        maxStringBytes: Int = 1024,
        maxNestingDepth: Int = 64,
        maxFutureSkewMs: Int64? = 24 * 3600 * 1000
    ) {
        self.maxMessageBytes = maxMessageBytes
        self.maxFeatures = maxFeatures
        self.maxValuesPerList = maxValuesPerList
        self.maxStringBytes = maxStringBytes
        self.maxNestingDepth = maxNestingDepth
        self.maxFutureSkewMs = maxFutureSkewMs
    }

    /// The nesting limit actually enforced (``maxNestingDepth`` clamped to 1...256).
    var effectiveNestingDepth: Int { min(max(maxNestingDepth, 1), 256) }
}
