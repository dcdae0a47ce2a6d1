/// Which kind of client a librdkafka property applies to, as the linked librdkafka's own
/// table of properties says (`rd_kafka_conf_properties_show`, the "C/P" column of its
/// CONFIGURATION.md).
public enum KafkaPropertyScope: Sendable, Equatable {
    /// Any client (connection, security, logging, ...): `*` in the table.
    case any
    /// Consumers only (`C`): a producer ignores it with a `CONFWARN` log line.
    case consumer
    /// Producers only (`P`): a consumer ignores it with a `CONFWARN` log line.
    case producer

    /// The scope of the property `name` (global or topic property, aliases included), or `nil`
    /// when the linked librdkafka does not list it (librdkafka then refuses it when set).
    public static func of(_ name: String) -> KafkaPropertyScope? { table[name] }

    /// Every property librdkafka lists, read once.
    private static let table: [String: KafkaPropertyScope] = parse(RDKafkaConfig.propertyTable())

    /// Parses the markdown tables `rd_kafka_conf_properties_show` prints
    /// (`name | C/P | range | default | importance | description`).
    static func parse(_ text: String) -> [String: KafkaPropertyScope] {
        var scopes: [String: KafkaPropertyScope] = [:]
        for line in text.split(separator: "\n") {
            let columns = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            guard columns.count == 3 else { continue }
            let name = columns[0].trimmedSpaces()
            let scope: KafkaPropertyScope
            switch columns[1].trimmedSpaces() {
            case "*": scope = .any
            case "C": scope = .consumer
            case "P": scope = .producer
            default: continue
            }
            scopes[name] = scope
        }
        return scopes
    }
}

extension Substring {
    fileprivate func trimmedSpaces() -> String {
        String(String(drop { $0 == " " }.reversed().drop { $0 == " " }).reversed())
    }
}
