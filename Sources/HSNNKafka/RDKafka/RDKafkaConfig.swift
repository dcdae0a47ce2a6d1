#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CRdkafka

/// Owns an `rd_kafka_conf_t` until `rd_kafka_new` takes it over.
///
/// Not `Sendable`: built and consumed within one initializer.
final class RDKafkaConfig {
    /// `nil` once ownership moved to a client.
    private(set) var pointer: OpaquePointer?

    /// Creates a configuration and applies `properties` in order.
    ///
    /// - Throws: ``KafkaError/Code/invalidConfiguration`` naming the first property
    ///   librdkafka rejects, with its message.
    init(properties: [(name: String, value: String)]) throws(KafkaError) {
        pointer = rd_kafka_conf_new()
        for (name, value) in properties {
            try set(name, value)
        }
    }

    deinit {
        if let pointer { rd_kafka_conf_destroy(pointer) }
    }

    /// Sets one property.
    ///
    /// - Throws: ``KafkaError/Code/invalidConfiguration`` with librdkafka's reason.
    func set(_ name: String, _ value: String) throws(KafkaError) {
        guard let pointer else { preconditionFailure("configuration already handed to a client") }
        var reason = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(pointer, name, value, &reason, reason.count)
        guard result != RD_KAFKA_CONF_OK else { return }
        var text = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.isEmpty {
            text = result == RD_KAFKA_CONF_UNKNOWN ? "unknown property" : "invalid value"
        }
        throw KafkaError.invalidProperty(name, reason: text)
    }

    /// Hands the configuration to `rd_kafka_new`: after `body` returns a non-nil result,
    /// librdkafka owns the configuration (on failure the caller keeps it, per librdkafka).
    func consume<T>(_ body: (OpaquePointer) -> T?) -> T? {
        guard let pointer else { preconditionFailure("configuration already handed to a client") }
        let result = body(pointer)
        if result != nil { self.pointer = nil }
        return result
    }

    /// librdkafka's table of every property it knows, with the kind of client each applies to
    /// (`rd_kafka_conf_properties_show`, markdown as in its CONFIGURATION.md); empty when the
    /// table cannot be captured.
    static func propertyTable() -> String {
        var buffer: UnsafeMutablePointer<CChar>?
        var size = 0
        guard let stream = open_memstream(&buffer, &size) else { return "" }
        rd_kafka_conf_properties_show(stream)
        fclose(stream)
        guard let buffer else { return "" }
        defer { free(buffer) }
        return String(cString: buffer)
    }
}
