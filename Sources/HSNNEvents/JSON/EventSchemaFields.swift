// The hsnn event schema as the JSON scanner sees it: field names, event kinds and the fields
// one message carried.

/// The schema fields the parser knows. `unknown` keys are skipped.
enum SchemaKey: UInt8 {
    case type, op, itemID, eventID, requestID, userID, timestampMs, features, userFeatures, clicked, unknown

    /// The field's name in JSON messages.
    var jsonName: String { staticName.description }

    var bit: UInt16 { 1 &<< UInt16(rawValue) }

    var staticName: StaticString {
        switch self {
        case .type: "type"
        case .op: "op"
        case .itemID: "item_id"
        case .eventID: "event_id"
        case .requestID: "request_id"
        case .userID: "user_id"
        case .timestampMs: "ts_ms"
        case .features: "features"
        case .userFeatures: "user_features"
        case .clicked: "clicked"
        case .unknown: "?"
        }
    }
}

/// The kind of event named by `type`.
enum EventKind {
    case item, impression, click
}

/// What the top-level object is decoded as.
enum MessageMode {
    /// An event: every schema key is known.
    case event
    /// A user query line: only `user_id` and `user_features` are known, the rest is skipped.
    case userQuery
}

/// The schema fields found in one message, before they are assembled into an event.
struct ParsedFields {
    var kind: EventKind?
    var op: ItemEvent.Operation?
    var itemID: String?
    var eventID: String?
    var requestID: String?
    var userID: String?
    var timestampMs: Int64?
    var features: Features?
    var userFeatures: Features?
    var clicked: Bool?
    var seen: UInt16 = 0

    func has(_ key: SchemaKey) -> Bool { seen & key.bit != 0 }
}
