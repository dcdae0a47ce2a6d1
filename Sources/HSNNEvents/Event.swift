/// The hsnn event schema: one JSON object per line in files, one per Kafka message.
///
/// Three kinds of event flow through the system:
/// - ``ItemEvent``: item catalog upserts and deletes,
/// - ``ImpressionEvent``: an item shown to a user, optionally already labelled,
/// - ``ClickEvent``: a click on an earlier impression.
///
/// Identifiers may be JSON strings or integers on the wire; they are always
/// carried as their decimal/string form here.

/// One feature value: a string, a list of strings (a multi-valued feature), or a number.
public enum FeatureValue: Sendable, Hashable {
    case string(String)
    case strings([String])
    case number(Double)
}

/// A small ordered set of named features (`user_features`, item `features`).
///
/// Stored as an array of pairs: events carry a handful of features, so a linear
/// scan beats hashing and keeps decoding allocation-light.
public struct Features: Sendable, Hashable, Sequence {
    public var entries: [(name: String, value: FeatureValue)]

    public init() { entries = [] }
    public init(_ entries: [(name: String, value: FeatureValue)]) { self.entries = entries }

    /// The value of feature `name`, if present (the first occurrence wins).
    public subscript(name: String) -> FeatureValue? {
        for entry in entries where entry.name == name { return entry.value }
        return nil
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    public func makeIterator() -> IndexingIterator<[(name: String, value: FeatureValue)]> {
        entries.makeIterator()
    }

    public static func == (lhs: Features, rhs: Features) -> Bool {
        guard lhs.entries.count == rhs.entries.count else { return false }
        for (a, b) in zip(lhs.entries, rhs.entries) where a.name != b.name || a.value != b.value { return false }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for entry in entries {
            hasher.combine(entry.name)
            hasher.combine(entry.value)
        }
    }
}

/// An item catalog change: `{"type":"item","op":"upsert"|"delete","item_id":...,"ts_ms":...,"features":{...}}`.
public struct ItemEvent: Sendable, Hashable, Codable {
    public enum Operation: String, Sendable, Hashable, Codable {
        case upsert
        case delete
    }

    public var op: Operation
    public var itemID: String
    public var timestampMs: Int64
    /// Item features; empty for deletes.
    public var features: Features

    public init(op: Operation, itemID: String, timestampMs: Int64, features: Features = Features()) {
        self.op = op
        self.itemID = itemID
        self.timestampMs = timestampMs
        self.features = features
    }
}

/// An item shown to a user.
///
/// When `clicked` is present the impression is already labelled; when absent a
/// later ``ClickEvent`` with the same request and item decides the label.
public struct ImpressionEvent: Sendable, Hashable, Codable {
    public var eventID: String
    public var requestID: String
    public var timestampMs: Int64
    public var userID: String
    public var itemID: String
    public var userFeatures: Features
    public var clicked: Bool?

    public init(
        eventID: String, requestID: String, timestampMs: Int64, userID: String, itemID: String,
        userFeatures: Features = Features(), clicked: Bool? = nil
    ) {
        self.eventID = eventID
        self.requestID = requestID
        self.timestampMs = timestampMs
        self.userID = userID
        self.itemID = itemID
        self.userFeatures = userFeatures
        self.clicked = clicked
    }
}

/// A click on an earlier impression of the same request and item.
public struct ClickEvent: Sendable, Hashable, Codable {
    public var eventID: String
    public var requestID: String
    public var timestampMs: Int64
    public var userID: String
    public var itemID: String

    public init(eventID: String, requestID: String, timestampMs: Int64, userID: String, itemID: String) {
        self.eventID = eventID
        self.requestID = requestID
        self.timestampMs = timestampMs
        self.userID = userID
        self.itemID = itemID
    }
}

/// Any event of the schema.
public enum Event: Sendable, Hashable {
    case item(ItemEvent)
    case impression(ImpressionEvent)
    case click(ClickEvent)

    /// The event time in milliseconds since the Unix epoch.
    public var timestampMs: Int64 {
        switch self {
        case .item(let e): e.timestampMs
        case .impression(let e): e.timestampMs
        case .click(let e): e.timestampMs
        }
    }
}

/// A labelled training example: an impression and whether it was clicked.
///
/// Produced directly from pre-labelled impressions, or by the impression/click
/// joiner once a click arrives or the attribution window expires.
public struct LabeledExample: Sendable, Hashable, Codable {
    public var impression: ImpressionEvent
    public var clicked: Bool

    public init(impression: ImpressionEvent, clicked: Bool) {
        self.impression = impression
        self.clicked = clicked
    }
}

/// A retrieval request: a user and their current features (`hsnn retrieve --users FILE` lines).
public struct UserQuery: Sendable, Hashable, Codable {
    public var userID: String
    public var userFeatures: Features

    public init(userID: String, userFeatures: Features = Features()) {
        self.userID = userID
        self.userFeatures = userFeatures
    }
}
