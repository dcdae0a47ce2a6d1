import Foundation
import HSNNKafka
import HSNNModel
import HSNNOps

/// A configuration that passed every check `hsnn run` makes before it binds a port, joins
/// Kafka or touches the checkpoint directory; `hsnn config check` runs the same checks.
///
/// Checked: the rules that involve several operational keys (``DaemonSettings/validate()``),
/// every model, index and training key with its range and the model's memory estimate
/// against physical memory (``ModelConfig/validate()``), and every `kafka.properties` and
/// `kafka.producer_properties` entry, handed to librdkafka's configuration exactly as the
/// consumer and the dead-letter producer would set it (a consumer-only property among the
/// producer's is refused).
public struct ValidatedConfiguration: Sendable {
    public let configuration: Configuration
    public let settings: DaemonSettings
    public let model: ModelConfig

    /// Checks `configuration`.
    /// - Throws: ``ConfigurationRejected`` listing every problem, each naming its key, where
    ///   the key was set and what to change.
    public init(_ configuration: Configuration) throws(ConfigurationRejected) {
        let settings = DaemonSettings(configuration)
        var problems: [String] = []
        do { try settings.validate() } catch { problems.append(error.description) }
        var model = ModelConfig()
        do {
            model = try ModelSettings.modelConfig(from: configuration)
        } catch let error as ModelConfigError {
            problems.append(Self.describe(key: error.key, in: configuration, error.message))
        } catch {
            problems.append("\(error)")
        }
        var consumerRefused = false
        do {
            try settings.consumerConfiguration(bootstrap: Self.placeholderBootstrap(settings)).validate()
        } catch {
            consumerRefused = true
            problems.append(Self.describe(error, map: "kafka.properties", in: configuration))
        }
        // The producer's properties are checked whether or not a dead-letter topic is set, so
        // that setting one later cannot turn a running configuration into a refused one.
        let consumerOnly = settings.consumerOnlyProducerProperties
        for name in consumerOnly {
            let source = configuration.mapEntrySources["kafka.producer_properties"]?[name]
            problems.append("""
                kafka.producer_properties.\(name)\(source.map { " (\($0))" } ?? ""): a consumer property (librdkafka \
                applies it to consumers only), which the dead-letter producer would ignore; set it as \
                kafka.properties.\(name) instead
                """)
        }
        if consumerOnly.isEmpty {
            do {
                try settings.deadLetterConfiguration(bootstrap: Self.placeholderBootstrap(settings)).validate()
            } catch {
                let fromProducer = error.property.map { settings.producerProperties[$0] != nil } ?? false
                // A shared entry the consumer refused is reported once, above.
                if fromProducer || !consumerRefused {
                    problems.append(Self.describe(
                        error, map: fromProducer ? "kafka.producer_properties" : "kafka.properties", in: configuration))
                }
            }
        }
        guard problems.isEmpty else { throw ConfigurationRejected(problems: problems) }
        self.configuration = configuration
        self.settings = settings
        self.model = model
    }

    /// The embedded broker's address is known only once it runs; any well-formed one checks the rest.
    private static func placeholderBootstrap(_ settings: DaemonSettings) -> String {
        settings.usesEmbeddedBroker ? "127.0.0.1:9092" : settings.brokers
    }

    /// A property librdkafka refused, named as the key of `map` it was set with.
    private static func describe(_ error: KafkaError, map: String, in configuration: Configuration) -> String {
        let key = error.property.map { "\(map).\($0)" } ?? map
        let source = error.property.flatMap { configuration.mapEntrySources[map]?[$0] }
        return "\(key)\(source.map { " (\($0))" } ?? ""): \(error)"
    }

    private static func describe(key: String, in configuration: Configuration, _ message: String) -> String {
        guard configuration.schema.key(key) != nil else { return message }
        return "\(key) (\(configuration.source(of: key))): \(message)"
    }
}

/// A configuration `hsnn run` refuses, with every problem found.
public struct ConfigurationRejected: Error, Sendable, CustomStringConvertible {
    /// One line per problem, each naming the key, where it was set and what to change.
    public var problems: [String]

    public var description: String { problems.joined(separator: "\n") }
}
